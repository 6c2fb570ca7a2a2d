"""FP4 weights (NVFP4, MXFP4) and FP8 KV on Blackwell; GB200 NVL72 as one scale-up domain
(issue 9, item 2)."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.perf.serving_rates import runs_weight_only
from gputwin.perf.serving_shapes import WEIGHT_BYTES
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()


def _perf(model: str = "llama3-70b", *, gpu: str | None = None, system: str | None = None,
          tp: int = 1, ep: int = 1, weights: str = "bf16", kv: str = "bf16") -> ServingPerf:
    hw = resolve_hardware(CAT, gpu=gpu, system=system)
    return prepare_serving(ServingConfig(CAT.model(model), hw, tp=tp, ep=ep,
                                         weights_dtype=weights, kv_cache_dtype=kv))


def test_block_scaled_fp4_bits_per_weight_include_the_scales() -> None:
    assert WEIGHT_BYTES["nvfp4"] * 8 == pytest.approx(4.5)  # E2M1 + E4M3 scale per 16
    assert WEIGHT_BYTES["mxfp4"] * 8 == pytest.approx(4.25)  # E2M1 + E8M0 scale per 32
    assert WEIGHT_BYTES["fp4"] == WEIGHT_BYTES["nvfp4"]


def test_fp4_weights_shrink_memory_in_format_order() -> None:
    sizes = {w: _perf(gpu="b200", weights=w).weights_bytes_per_gpu
             for w in ("bf16", "fp8", "nvfp4", "mxfp4")}
    assert sizes["mxfp4"] < sizes["nvfp4"] < sizes["fp8"] < sizes["bf16"]
    # the quantised layers dominate a 70B model: NVFP4 is close to 4.5/8 of FP8
    assert 0.5 < sizes["nvfp4"] / sizes["fp8"] < 0.6


@pytest.mark.parametrize(("gpu", "dense_fp4_pflops"),
                         [("b200", 9.0), ("gb200", 10.0), ("gb300", 15.0)])
def test_blackwell_fp4_tensor_core_rates(gpu: str, dense_fp4_pflops: float) -> None:
    acc = CAT.accelerator(gpu)
    assert acc.peak_for("fp4") == pytest.approx(dense_fp4_pflops * 1e15)
    assert acc.peak_for("fp4") == pytest.approx(2 * acc.peak_for("fp8"), rel=0.5)


@pytest.mark.parametrize("gpu", ["b200", "gb200", "b300", "gb300"])
def test_fp4_prefill_beats_fp8_on_blackwell_and_fp4_alias_is_nvfp4(gpu: str) -> None:
    fp8, fp4 = _perf(gpu=gpu, weights="fp8", kv="fp8"), _perf(gpu=gpu, weights="fp4", kv="fp8")
    nv = _perf(gpu=gpu, weights="nvfp4", kv="fp8")
    args = (8192, 8192 * 256.0, 8192 * 256.0, 0, 0.0)  # 16 fresh 512-token prompts: GEMMs
    assert fp4.step_time_s(*args) < 0.8 * fp8.step_time_s(*args)
    assert fp4.step_time_s(*args) == nv.step_time_s(*args)
    decode = (0, 0.0, 0.0, 64, 64 * 2000.0)  # memory-bound: fewer weight bytes help too
    assert fp4.step_time_s(*decode) < fp8.step_time_s(*decode)


@pytest.mark.parametrize("gpu", ["h100-sxm-80gb", "h200-sxm-141gb", "a100-sxm-80gb"])
@pytest.mark.parametrize("weights", ["fp4", "nvfp4", "mxfp4"])
def test_fp4_without_fp4_tensor_cores_runs_weight_only_at_the_bf16_rate(
        gpu: str, weights: str) -> None:
    """Hopper/Ampere serve FP4 checkpoints (gpt-oss MXFP4) dequantised to BF16 in the
    GEMM, as int4 AWQ runs: FP4's weight bytes, BF16's compute rate."""
    acc = CAT.accelerator(gpu)
    assert runs_weight_only(acc, weights) and runs_weight_only(acc, "int4")
    assert not runs_weight_only(CAT.accelerator("b200"), weights)
    fp4, int4 = _perf(gpu=gpu, tp=4, weights=weights), _perf(gpu=gpu, tp=4, weights="int4")
    bf16 = _perf(gpu=gpu, tp=4, weights="bf16")
    prefill = (8192, 8192 * 256.0, 8192 * 256.0, 0, 0.0)  # compute-bound
    assert fp4.step_time_s(*prefill) == pytest.approx(int4.step_time_s(*prefill), rel=0.02)
    assert fp4.step_time_s(*prefill) > bf16.step_time_s(*prefill)  # dequantisation
    decode = (0, 0.0, 0.0, 8, 8 * 500.0)  # weight-bound: the 4-bit bytes count
    assert fp4.step_time_s(*decode) < 0.75 * bf16.step_time_s(*decode)
    assert fp4.step_time_s(*decode) == pytest.approx(int4.step_time_s(*decode), rel=0.1)
    assert fp4.weights_bytes_per_gpu < 0.4 * bf16.weights_bytes_per_gpu


@pytest.mark.parametrize("tp", [8, 16, 32, 64])
def test_gb200_nvl72_tensor_parallel_stays_inside_the_nvlink_domain(tp: int) -> None:
    perf = _perf("llama3.1-405b", system="gb200-nvl72", tp=tp, weights="nvfp4", kv="fp8")
    group = perf.comm.ar
    assert group is not None and group.num_domains == 1 and group.gpus_per_domain == tp


def test_tp16_all_reduce_is_cheaper_on_nvl72_than_across_two_hgx_nodes() -> None:
    nvl = _perf("llama3.1-405b", system="gb200-nvl72", tp=16, weights="nvfp4")
    hgx = _perf("llama3.1-405b", system="dgx-b200", tp=16, weights="nvfp4")
    assert hgx.comm.ar is not None and hgx.comm.ar.num_domains == 2
    assert nvl.comm.allreduce_s(8192) < hgx.comm.allreduce_s(8192)


def test_wide_expert_parallel_moe_on_one_nvl72_domain() -> None:
    perf = _perf("deepseek-v3", system="gb200-nvl72", tp=64, ep=64, weights="nvfp4", kv="fp8")
    assert perf.memory.num_kv_blocks(16, 0.9) > 0
    assert perf.comm.ar is not None and perf.comm.ar.num_domains == 1


def test_mxfp4_runs_mxfp8_activations_and_fp4_means_gpt_oss_own_checkpoint() -> None:
    """MXFP4 weights meet MXFP8 activations on Blackwell (the FP8 rate); `fp4` for
    gpt-oss is its released MXFP4 checkpoint, for other models NVFP4."""
    prefill = (8192, 8192 * 256.0, 8192 * 256.0, 0, 0.0)
    mx = _perf("llama3-70b", gpu="b200", weights="mxfp4", kv="fp8")
    nv = _perf("llama3-70b", gpu="b200", weights="nvfp4", kv="fp8")
    fp8 = _perf("llama3-70b", gpu="b200", weights="fp8", kv="fp8")
    assert nv.step_time_s(*prefill) < mx.step_time_s(*prefill)
    assert mx.step_time_s(*prefill) == pytest.approx(fp8.step_time_s(*prefill), rel=0.1)
    oss = {w: _perf("gpt-oss-20b", gpu="b200", weights=w, kv="fp8")
           for w in ("fp4", "mxfp4", "nvfp4")}
    assert oss["fp4"].config.weights_dtype == "mxfp4"
    assert oss["fp4"].step_time_s(*prefill) == oss["mxfp4"].step_time_s(*prefill)
    assert oss["fp4"].weights_bytes_per_gpu < oss["nvfp4"].weights_bytes_per_gpu
