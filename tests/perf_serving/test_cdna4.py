"""AMD Instinct MI350X / MI355X (CDNA 4): catalog figures, the platform's Infinity Fabric,
the calibration family, and MXFP4/FP4 weights on the FP4 matrix rate."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.calibration import default_calibration
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.perf.serving_rates import runs_weight_only
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()
PREFILL = (8192, 8192 * 256.0, 8192 * 256.0, 0, 0.0)  # 16 fresh 512-token prompts: GEMMs
DECODE = (0, 0.0, 0.0, 64, 64 * 2000.0)  # memory-bound


def _perf(gpu: str, weights: str, model: str = "llama3.3-70b",
          engine: str = "vllm") -> ServingPerf:
    hw = resolve_hardware(CAT, gpu=gpu)
    return prepare_serving(ServingConfig(CAT.model(model), hw, tp=1, weights_dtype=weights,
                                         kv_cache_dtype="fp8", engine=engine))


@pytest.mark.parametrize(("gpu", "clock_ghz"), [("mi355x", 2.4), ("mi350x", 2.2)])
def test_cdna4_peaks_follow_cus_clock_and_flop_per_clock(gpu: str, clock_ghz: float) -> None:
    acc = CAT.accelerator(gpu)
    cu_clock = 256 * clock_ghz * 1e9  # 256 CUs
    assert acc.peak_for("bf16") == pytest.approx(cu_clock * 4096, rel=1e-3)
    assert acc.peak_for("fp8") == pytest.approx(2 * acc.peak_for("bf16"), rel=1e-3)
    assert acc.peak_for("fp4") == pytest.approx(2 * acc.peak_for("fp8"), rel=1e-3)
    assert acc.peak_for("fp6") == acc.peak_for("fp4")  # MXFP6 at the MXFP4 rate on CDNA 4
    assert acc.memory_bytes == 288 * 2**30
    assert acc.memory_bandwidth_bytes_per_s == pytest.approx(8e12)


def test_mi355x_platform_is_a_fully_connected_eight_gpu_mesh() -> None:
    system = CAT.system("mi355x-platform")
    fabric = CAT.fabric(system.scale_up_fabric)
    acc = CAT.accelerator(system.accelerator)
    assert system.num_accelerators == system.scale_up_domain_size == 8
    assert system.scale_up_topology == "mesh"
    # 7 peer links of 153.6 GB/s (both directions) = 76.8 GB/s per direction each
    per_gpu = acc.scale_up_bandwidth_bytes_per_s
    assert 7 * fabric.link_bandwidth_bytes_per_s == pytest.approx(per_gpu)
    assert per_gpu > CAT.accelerator("mi325x").scale_up_bandwidth_bytes_per_s
    assert system.max_power_w > 8 * acc.tdp_w


def test_cdna4_takes_its_own_measured_gemm_fractions_not_cdna3s() -> None:
    cal = default_calibration()
    cdna4, cdna3 = cal.for_accelerator("mi355x"), cal.for_accelerator("mi325x")
    assert cdna4.family == cal.for_accelerator("mi350x").family == "mi35"
    assert cdna3.family == "mi325x"
    assert cdna4.gemm_frac("fp4") > 0 and cdna4.gemm_frac("fp8") > cdna3.gemm_frac("fp8")


def test_fp4_weights_run_on_the_fp4_matrix_rate_on_mi355x_and_weight_only_on_mi325x() -> None:
    assert not runs_weight_only(CAT.accelerator("mi355x"), "fp4")
    assert runs_weight_only(CAT.accelerator("mi325x"), "fp4")
    # AMD's MLPerf harness realises MXFP4 (the stock engines price it as FP8: test_amd_stacks)
    fp8, fp4 = (_perf("mi355x", w, engine="vllm-amd-mlperf") for w in ("fp8", "fp4"))
    assert fp4.step_time_s(*PREFILL) < 0.8 * fp8.step_time_s(*PREFILL)
    assert fp4.step_time_s(*DECODE) < fp8.step_time_s(*DECODE)  # fewer weight bytes
    assert fp4.weights_bytes_per_gpu < 0.6 * fp8.weights_bytes_per_gpu


def test_mi355x_outruns_mi325x_at_the_same_weights() -> None:
    for weights in ("bf16", "fp8"):
        new, old = _perf("mi355x", weights), _perf("mi325x", weights)
        assert new.step_time_s(*PREFILL) < old.step_time_s(*PREFILL)
        assert new.step_time_s(*DECODE) < old.step_time_s(*DECODE)


def test_gpt_oss_fp4_serves_on_mi355x() -> None:
    """`fp4` for gpt-oss is its released MXFP4 checkpoint, served natively on CDNA 4."""
    perf = _perf("mi355x", "fp4", model="gpt-oss-120b")
    assert perf.config.weights_dtype == "mxfp4"
    assert not runs_weight_only(CAT.accelerator("mi355x"), "mxfp4")
    assert perf.step_time_s(*DECODE) > 0
