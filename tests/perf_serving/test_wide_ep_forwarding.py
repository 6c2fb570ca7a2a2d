"""Wide EP across scale-up domains: the normal kernels' in-domain forwarding, and the
low-latency kernels for speculative verification steps."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.perf.serving_comm import ReplicaComm
from gputwin.perf.wide_ep import remote_domains_per_token, wide_ep_comm
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()


def _perf(**kw: Any) -> ServingPerf:
    base: dict[str, Any] = {"tp": 1, "ep": 32, "dp_attention": 32, "weights_dtype": "fp8",
                            "max_num_seqs": 8192, "max_num_batched_tokens": 600_000}
    base.update(kw)
    return prepare_serving(ServingConfig(CAT.model("deepseek-v3"),
                                         resolve_hardware(CAT, system="dgx-h100"), **base))


def test_remote_domains_follow_the_hypergeometric_miss_probability() -> None:
    assert remote_domains_per_token(256, 8, 1) == 0.0
    miss = math.comb(192, 8) / math.comb(256, 8)  # 4 domains of 64 experts
    assert remote_domains_per_token(256, 8, 4) == pytest.approx(3 * (1 - miss))
    # never more remote domains than experts, nor than there are other domains
    assert remote_domains_per_token(256, 8, 64) < 8
    assert remote_domains_per_token(256, 8, 2) < 1


def test_normal_kernels_forward_inside_the_node_and_move_fewer_nic_bytes() -> None:
    hw = resolve_hardware(CAT, system="dgx-h100")
    plain = wide_ep_comm(hw, 32, 7168, 8, "fp8")  # no expert count: no forwarding path
    fwd = wide_ep_comm(hw, 32, 7168, 8, "fp8", num_experts=256)
    tokens = 16_000  # a prefill step's tokens per rank
    assert fwd.layer_time_s(tokens, 1.0, low_latency=False) < (
        0.6 * plain.layer_time_s(tokens, 1.0, low_latency=False))
    # the low-latency kernels send every (token, expert) copy: unchanged
    assert fwd.layer_time_s(tokens, 1.0, low_latency=True) == pytest.approx(
        plain.layer_time_s(tokens, 1.0, low_latency=True))


def test_forwarding_needs_more_than_one_domain() -> None:
    hw = resolve_hardware(CAT, system="dgx-h100")
    one = wide_ep_comm(hw, 8, 7168, 8, "fp8", num_experts=256)
    assert one.domain is None
    nvl72 = resolve_hardware(CAT, system="gb200-nvl72")
    assert wide_ep_comm(nvl72, 48, 7168, 8, "nvfp4", num_experts=256).domain is None


def test_prefill_step_slows_with_prompt_length_once_the_all_to_all_hides() -> None:
    # the SGLang EP32 prefill rows: 16k tokens per GPU at 1K and at 4K prompts
    p = _perf(redundant_experts=32)
    n = 32 * 16_000

    def tput(prompt: int) -> float:
        seqs = n // prompt
        step = p.step_time_s(n, 0.0, seqs * prompt * prompt / 2.0, 0, 0.0)
        return n / step

    assert tput(4000) < 0.95 * tput(1000)


def test_speculative_verification_uses_the_low_latency_kernels(
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = _perf(num_speculative_tokens=1, draft_kind="eagle")
    seen: list[bool] = []
    real = ReplicaComm.moe_comm_s

    def spy(self: ReplicaComm, tokens: int, *, low_latency: bool) -> float:
        seen.append(low_latency)
        return real(self, tokens, low_latency=low_latency)

    monkeypatch.setattr(ReplicaComm, "moe_comm_s", spy)
    p.spec_step_time_s(32 * 64, 32 * 64 * 2048.0)
    assert seen and all(seen)
    seen.clear()
    p.spec_step_time_s(32 * 64, 32 * 64 * 2048.0, num_prefill_tokens=4096,
                       prefill_attn_pairs=4096 * 2048.0)
    assert seen and not any(seen)
