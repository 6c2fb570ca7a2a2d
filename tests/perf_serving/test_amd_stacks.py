"""AMD Instinct's two software stacks: the stock engines (vLLM, SGLang on ROCm) price W4A4
FP4 weights on CDNA 4 as FP8 GEMMs (``fp4_as_fp8_on``), AMD's MLPerf harness profile
(``vllm-amd-mlperf``) runs them at the FP4 rate; NVIDIA parts and other formats are not
touched, and the weights keep their FP4 bytes in memory either way."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.engines import current_engine_names, engine_profile
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()
PREFILL = (8192, 8192 * 256.0, 8192 * 256.0, 0, 0.0)  # GEMM-bound
DECODE = (0, 0.0, 0.0, 64, 64 * 2000.0)  # weight-read-bound


def _perf(gpu: str, weights: str, engine: str, model: str = "llama3.3-70b") -> ServingPerf:
    hw = resolve_hardware(CAT, gpu=gpu)
    return prepare_serving(ServingConfig(CAT.model(model), hw, tp=1, weights_dtype=weights,
                                         kv_cache_dtype="fp8", engine=engine))


def test_profiles_name_the_vendors_whose_fp4_runs_as_fp8() -> None:
    assert engine_profile("vllm").fp4_runs_as_fp8("amd")
    assert engine_profile("sglang").fp4_runs_as_fp8("AMD")
    assert not engine_profile("vllm").fp4_runs_as_fp8("nvidia")
    assert not engine_profile("trtllm").fp4_runs_as_fp8("nvidia")
    harness = engine_profile("vllm-amd-mlperf")
    assert harness.base == "vllm" and harness.runs_on == ("amd",)
    assert not harness.fp4_runs_as_fp8("amd")
    assert "vllm-amd-mlperf" not in current_engine_names()  # a plan tries it only when named


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize("gpu", ["mi355x", "mi350x"])
def test_stock_engines_price_fp4_as_fp8_on_cdna4(gpu: str, engine: str) -> None:
    fp8, fp4 = _perf(gpu, "fp8", engine), _perf(gpu, "fp4", engine)
    for step in (PREFILL, DECODE):
        assert fp4.step_time_s(*step) == pytest.approx(fp8.step_time_s(*step), rel=1e-12)
    # memory holds the FP4 checkpoint: about half the FP8 bytes, so more KV room
    assert fp4.weights_bytes_per_gpu < 0.6 * fp8.weights_bytes_per_gpu
    assert fp4.memory.free_kv_bytes_per_gpu() > fp8.memory.free_kv_bytes_per_gpu()


def test_amd_harness_runs_fp4_at_the_fp4_rate() -> None:
    stock, harness = _perf("mi355x", "fp4", "vllm"), _perf("mi355x", "fp4", "vllm-amd-mlperf")
    assert harness.step_time_s(*PREFILL) < 0.8 * stock.step_time_s(*PREFILL)
    assert harness.step_time_s(*DECODE) < stock.step_time_s(*DECODE)
    assert harness.weights_bytes_per_gpu == stock.weights_bytes_per_gpu
    # FP8 weights price the same under both: the profiles differ only for FP4
    a, b = _perf("mi355x", "fp8", "vllm"), _perf("mi355x", "fp8", "vllm-amd-mlperf")
    assert a.step_time_s(*PREFILL) == b.step_time_s(*PREFILL)


def test_nvidia_fp4_and_gpt_oss_mxfp4_are_not_touched() -> None:
    # NVFP4 on Blackwell keeps its FP4 gain under vLLM
    fp8, fp4 = _perf("b200", "fp8", "vllm"), _perf("b200", "fp4", "vllm")
    assert fp4.step_time_s(*PREFILL) < 0.8 * fp8.step_time_s(*PREFILL)
    # gpt-oss's MXFP4 runs W4A8 at the FP8 rate already: its own bytes, same under both
    stock = _perf("mi355x", "fp4", "vllm", model="gpt-oss-120b")
    harness = _perf("mi355x", "fp4", "vllm-amd-mlperf", model="gpt-oss-120b")
    assert stock.step_time_s(*DECODE) == harness.step_time_s(*DECODE)


def test_parts_without_fp4_matrix_rate_are_not_touched() -> None:
    """MI325X has no FP4 rate: FP4 runs weight-only at the BF16 rate under every profile."""
    a, b = _perf("mi325x", "fp4", "vllm"), _perf("mi325x", "fp4", "vllm-amd-mlperf")
    assert a.step_time_s(*PREFILL) == b.step_time_s(*PREFILL)
    assert a.step_time_s(*DECODE) == b.step_time_s(*DECODE)
