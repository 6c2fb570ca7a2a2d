"""Wide expert parallelism: all-to-all cost, attention DP, imbalance, the split rule."""

from __future__ import annotations

from typing import Any

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.perf.wide_ep import expected_imbalance, wide_ep_comm
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()


def _perf(system: str = "dgx-h100", **kw: Any) -> ServingPerf:
    base: dict[str, Any] = {"tp": 1, "ep": 16, "dp_attention": 16, "weights_dtype": "fp8",
                            "redundant_experts": 0, "max_num_seqs": 4096,
                            "max_num_batched_tokens": 65536}
    base.update(kw)
    return prepare_serving(ServingConfig(CAT.model("deepseek-v3"),
                                         resolve_hardware(CAT, system=system), **base))


def test_all_to_all_grows_when_the_ep_group_leaves_the_nvlink_domain() -> None:
    hw = resolve_hardware(CAT, system="dgx-h100")  # 8-GPU NVLink domain, then InfiniBand
    inside = wide_ep_comm(hw, 8, 7168, 8, "fp8").layer_time_s(256, 1.0, low_latency=True)
    across = wide_ep_comm(hw, 16, 7168, 8, "fp8").layer_time_s(256, 1.0, low_latency=True)
    assert across > 3 * inside
    nvl72 = resolve_hardware(CAT, system="gb200-nvl72")  # 72 GPUs on one NVLink domain
    wide = wide_ep_comm(nvl72, 64, 7168, 8, "fp8").layer_time_s(256, 1.0, low_latency=True)
    assert wide < across / 3


def test_fp4_dispatch_halves_the_dispatch_traffic() -> None:
    hw = resolve_hardware(CAT, system="gb200-nvl72")
    fp8 = wide_ep_comm(hw, 32, 7168, 8, "fp8").layer_time_s(4096, 1.0, low_latency=True)
    fp4 = wide_ep_comm(hw, 32, 7168, 8, "nvfp4").layer_time_s(4096, 1.0, low_latency=True)
    assert fp4 < fp8


def test_normal_kernels_cost_more_than_low_latency_ones_inside_a_node() -> None:
    # one NVLink domain: the same all-to-all plus the CPU-blocking layout exchange (across
    # domains the normal kernels forward instead: test_wide_ep_forwarding.py)
    p = _perf(ep=8, dp_attention=8)
    assert p.comm.moe_comm_s(512, low_latency=False) > p.comm.moe_comm_s(512, low_latency=True)


def test_attention_dp_multiplies_kv_capacity_of_an_mla_model() -> None:
    # TP8: MLA's latent is replicated on all 8 GPUs; DP8: each GPU caches its own sequences
    tp8 = _perf("hgx-h200", tp=8, ep=8, dp_attention=1, max_num_seqs=256,
                max_num_batched_tokens=8192)
    dp8 = _perf("hgx-h200", tp=1, ep=8, dp_attention=8, max_num_seqs=256,
                max_num_batched_tokens=8192)
    assert tp8.config.num_gpus == dp8.config.num_gpus == 8
    assert dp8.memory.num_kv_blocks() > 4 * tp8.memory.num_kv_blocks()


def test_imbalance_slows_the_step() -> None:
    even = _perf(ep_imbalance=1.0)
    skewed = _perf(ep_imbalance=1.5)
    args = (8192, 0.0, 8192 * 4096 / 2, 0, 0.0)
    assert skewed.step_time_s(*args) > 1.05 * even.step_time_s(*args)


def test_expected_imbalance_falls_with_batch_and_with_redundant_experts() -> None:
    small, large = expected_imbalance(64 * 8, 64), expected_imbalance(65536 * 8, 64)
    assert small > large > 1.0
    assert expected_imbalance(65536 * 8, 64, redundant_experts=64) < large
    assert expected_imbalance(100, 1) == 1.0


def test_wide_ep_spreads_the_experts_over_every_gpu() -> None:
    narrow, wide = _perf(ep=16, dp_attention=16), _perf(ep=32, dp_attention=32)
    assert wide.weights_bytes_per_gpu < narrow.weights_bytes_per_gpu
    assert wide.config.num_gpus == 32
    # each DP group sends its own KV: transfer bandwidth of one group, not of 32 GPUs
    assert wide.kv_transfer_time_s(2000) == pytest.approx(narrow.kv_transfer_time_s(2000))


@pytest.mark.parametrize(("kw", "flag", "text"), [
    ({"tp": 2, "ep": 8, "dp_attention": 2}, "--ep", "tp x dp_attention = 4"),
    ({"tp": 8, "ep": 16, "dp_attention": 1}, "--ep", "must divide tp 8"),
    ({"ep": 12, "dp_attention": 12}, "--ep", "256 experts"),
    ({"redundant_experts": -1}, "--redundant-experts", ">= 0"),
    ({"ep_imbalance": 0.5}, None, "--ep-imbalance"),
])
def test_split_rule_names_the_option(kw: dict[str, Any], flag: str | None, text: str) -> None:
    with pytest.raises(InputError) as exc:
        _perf(**kw)
    assert text in str(exc.value)
    if flag:
        assert exc.value.where == flag


def test_redundant_experts_allow_ep_sizes_that_do_not_divide_the_experts() -> None:
    p = _perf(ep=72, dp_attention=72, redundant_experts=32)  # 288 slots, 4 per GPU
    assert p.shape.groups[-1].local_experts == 4


def test_dp_attention_needs_a_moe_model() -> None:
    with pytest.raises(InputError, match="mixture-of-experts"):
        prepare_serving(ServingConfig(CAT.model("llama3-70b"),
                                      resolve_hardware(CAT, system="dgx-h100"), tp=2, ep=4,
                                      dp_attention=2))
