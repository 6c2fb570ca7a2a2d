"""The small-M expert probe reports the serving model's own expert GEMM law."""

from __future__ import annotations

from types import ModuleType

import pytest
from tests.bench.bench_scripts import BENCH_DIR, load_script

BENCH = BENCH_DIR / "probe_small_m_experts.py"


def _load() -> ModuleType:
    return load_script(BENCH)


def test_probe_follows_the_rows_over_rows_plus_tile_law() -> None:
    probe = _load()
    model_32, bare_32 = probe.model_tflops(32)
    model_96, bare_96 = probe.model_tflops(96)
    # native FP8 experts on Hopper pad to the 64-row tile: rows/(rows + 64)
    assert bare_96 / bare_32 == pytest.approx((96 / 160) / (32 / 96), rel=1e-6)
    # the narrow-expert factor is one multiplier at every row count
    assert model_32 / bare_32 == pytest.approx(model_96 / bare_96, rel=1e-9)
    assert model_32 < bare_32


def test_published_kernel_figures_stay_under_the_h20_fp8_peak() -> None:
    probe = _load()
    for rows, (n, k), plain, swap in probe.DEEPGEMM_H20_PR192:
        assert rows > 0 and n > 0 and k > 0
        assert 0.0 < plain < 296.0
        assert swap is None or plain < swap < 296.0


def test_deepgemm_h800_rows_run_near_the_dense_rate_not_the_narrow_expert_rate() -> None:
    """docs/serving-model.md, 'What the narrow-expert loss is': at DeepSeek's expert shapes
    the published grouped GEMM on an H800 is within 30 % of the H100 model without the
    narrow-expert factor, and well above the model with it."""
    probe = _load()
    for rows, _shape, measured, _layout in probe.DEEPGEMM_H800_README:
        model, no_width = probe.model_tflops(rows, gpu="h100-sxm-80gb")
        assert abs(no_width / measured - 1.0) < 0.30
        assert model < 0.4 * measured
