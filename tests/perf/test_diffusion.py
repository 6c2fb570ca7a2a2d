"""Diffusion-transformer video generation against published latencies."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gputwin.catalog.loader import default_catalog
from gputwin.cli.main import cli
from gputwin.errors import InputError, UnknownNameError
from gputwin.perf.diffusion import diffusion_table, estimate_generation, latent_tokens

H100 = default_catalog().accelerator("h100-sxm-80gb")

# HunyuanVideo README (Tencent, Dec 2024), xDiT parallel inference table: 1280x720, 129
# frames, 50 steps on H800/H100-class GPUs (same bf16 peak): 1 GPU 1904.08 s, 8 GPUs 337.58 s.
HUNYUAN_1GPU_S = 1904.08
HUNYUAN_8GPU_S = 337.58


def test_hunyuanvideo_single_gpu_latency() -> None:
    """Model -9.3 % (MFU 0.40 assumed, not fitted). Tolerance 15 %."""
    est = estimate_generation(H100, "hunyuanvideo", frames=129, height=720, width=1280)
    assert est.time_s == pytest.approx(HUNYUAN_1GPU_S, rel=0.15)


def test_hunyuanvideo_eight_gpus_is_an_upper_bound_on_speed() -> None:
    """Sequence parallelism is assumed ideal: the model is faster than xDiT's measured
    337.6 s (it predicts 229 s, -32 %) -- a known gap, documented."""
    est = estimate_generation(H100, "hunyuanvideo", frames=129, height=720, width=1280,
                              num_gpus=8)
    assert est.time_s < HUNYUAN_8GPU_S
    assert est.time_s == pytest.approx(HUNYUAN_8GPU_S, rel=0.40)


def test_token_count_and_attention_dominate_long_videos() -> None:
    m = diffusion_table().models["hunyuanvideo"]
    assert latent_tokens(m, frames=129, height=720, width=1280) == 33 * 45 * 80 + 256
    short = estimate_generation(H100, "hunyuanvideo", frames=33, height=720, width=1280)
    long = estimate_generation(H100, "hunyuanvideo", frames=129, height=720, width=1280)
    # attention grows with tokens squared: FLOPs superlinear in the token count
    assert long.flops / short.flops > 1.5 * long.tokens / short.tokens
    image = estimate_generation(H100, "hunyuanvideo", frames=1, height=720, width=1280)
    assert image.gpu_seconds_per_video_second is None


def test_bad_input() -> None:
    with pytest.raises(UnknownNameError):
        estimate_generation(H100, "sora", frames=1, height=16, width=16)
    with pytest.raises(InputError, match="multiples"):
        estimate_generation(H100, "hunyuanvideo", frames=1, height=100, width=16)


def test_cli_reports_gpu_seconds_per_video_second_and_cost() -> None:
    res = CliRunner().invoke(cli, ["estimate", "video", "--model", "hunyuanvideo", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["gpu_seconds_per_video_second"] > 100 and d["cost_usd_per_video_second"] > 0
