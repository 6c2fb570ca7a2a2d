"""perf/kernel.py: the per-kernel rates the training and serving models use, and the
kernel validation suite (validation/cases/kernels.yaml)."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.calibration import default_calibration
from gputwin.perf.kernel import attention_estimate, attention_flop, gemm_estimate, kernel_estimate
from gputwin.validation.runner import CASES_DIR, load_cases, run_case

KERNEL_CASES = load_cases([CASES_DIR / "kernels.yaml"])


def test_gemm_rate_is_peak_times_fraction_times_shape_factor() -> None:
    cal = default_calibration()
    coeff = cal.for_accelerator("h100-sxm-80gb")
    peak = default_catalog().accelerator("h100-sxm-80gb").peak_for("bf16") / 1e12
    m, n, k = 1024, 4096, 8192
    h = cal.gemm_half_dim
    expected = peak * coeff.gemm_frac("bf16") * (m / (m + h)) * (n / (n + h)) * (k / (k + h))
    est = gemm_estimate("h100-sxm-80gb", "bf16", m, n, k)
    assert est.tflops == pytest.approx(expected)
    assert est.in_step_tflops == pytest.approx(expected * coeff.sustained_frac)
    assert est.time_ms == pytest.approx(2.0 * m * n * k / (expected * 1e12) * 1e3)


def test_thin_gemm_is_priced_by_its_traffic() -> None:
    """At M = 64 (a decode step's shape) the weight read sets the time: operands and result
    over HBM at memory_bw_frac, not the shape factor's rate (which is twice as fast here)."""
    cal = default_calibration()
    acc = default_catalog().accelerator("h100-sxm-80gb")
    m, n, k = 64, 7168, 16384
    est = gemm_estimate("h100-sxm-80gb", "fp8", m, n, k)
    traffic = (m * k + k * n) * 1.0 + m * n * 2.0  # FP8 operands, BF16 result
    assert est.memory_bound and est.traffic_bytes == pytest.approx(traffic)
    seconds = traffic / (acc.memory_bandwidth_bytes_per_s * cal.memory_bw_frac)
    assert est.time_ms == pytest.approx(seconds * 1e3)
    h = cal.gemm_half_dim
    compute_only = (acc.peak_for("fp8") / 1e12 * cal.for_accelerator(acc.name).gemm_frac("fp8")
                    * (m / (m + h)) * (n / (n + h)) * (k / (k + h)))
    assert est.tflops < 0.6 * compute_only
    assert not gemm_estimate("h100-sxm-80gb", "fp8", 4096, n, k).memory_bound


def test_gemm_rate_grows_with_the_shape_toward_the_fraction() -> None:
    small = gemm_estimate("b200", "bf16", 256, 4096, 4096).tflops
    large = gemm_estimate("b200", "bf16", 16384, 16384, 16384).tflops
    peak = default_catalog().accelerator("b200").peak_for("bf16") / 1e12
    cap = peak * default_calibration().for_accelerator("b200").gemm_frac("bf16")
    assert small < large < cap


def test_attention_backward_runs_at_the_model_share_of_forward() -> None:
    fwd = attention_estimate("gb200", "bf16", 128, pass_="fwd")
    bwd = attention_estimate("gb200", "bf16", 128, pass_="bwd")
    share = default_calibration().for_accelerator("gb200").attention_bwd_rate
    assert bwd.tflops == pytest.approx(share * fwd.tflops)
    assert bwd.flop == pytest.approx(2.5 * fwd.flop)
    assert fwd.serving_tflops is not None and bwd.serving_tflops is None


def test_causal_halves_the_work_not_the_rate() -> None:
    causal = attention_estimate("h200-sxm-141gb", "bf16", 128, causal=True)
    full = attention_estimate("h200-sxm-141gb", "bf16", 128, causal=False)
    assert causal.tflops == full.tflops
    assert causal.flop == pytest.approx(0.5 * full.flop)


def test_head_dim_below_128_is_slower_and_above_is_capped() -> None:
    r64 = attention_estimate("h100-sxm-80gb", "bf16", 64).tflops
    r128 = attention_estimate("h100-sxm-80gb", "bf16", 128).tflops
    r256 = attention_estimate("h100-sxm-80gb", "bf16", 256).tflops
    assert r64 < r128 == r256


def test_flop_convention_matches_the_cudnn_benchmark_row() -> None:
    # cuDNN SDPA training benchmark, GB200 Llama 3.1 row: batch 2, 64 heads, 8192 tokens,
    # head dim 128, causal forward 1.417 ms reported as 1,552 TFLOP/s.
    flop = attention_flop(2, 64, 8192, 128, 128, True, "fwd")
    assert flop / 1.417e-3 / 1e12 == pytest.approx(1552, rel=0.005)


def test_gb300_serving_rate_carries_its_sfu_speedup() -> None:
    gb200 = attention_estimate("gb200", "bf16", 128).serving_tflops
    gb300 = attention_estimate("gb300", "bf16", 128).serving_tflops
    speedup = default_catalog().accelerator("gb300").attention_sfu_speedup
    assert gb200 is not None and gb300 is not None
    assert gb300 == pytest.approx(gb200 * speedup)


@pytest.mark.parametrize("inputs", [
    {"op": "conv", "part": "h100-sxm-80gb"},
    {"op": "gemm", "part": "a100-sxm-80gb", "dtype": "fp8", "m": 1, "n": 1, "k": 1},
    {"op": "gemm", "part": "h100-sxm-80gb", "m": 0, "n": 1024, "k": 1024},
    {"op": "gemm", "part": "h100-sxm-80gb", "m": 1024},
    {"op": "attention", "part": "h100-sxm-80gb", "head_dim": 128, "pass": "both"},
    {"op": "attention", "part": "h100-sxm-80gb", "head_dim": -64},
    {"op": "attention", "part": "no-such-part", "head_dim": 128},
])
def test_bad_inputs_are_input_errors(inputs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        kernel_estimate(**inputs)  # type: ignore[arg-type]


def test_kernel_suite_evaluates_and_quotes_its_figures() -> None:
    assert len(KERNEL_CASES) >= 30
    assert sum(not c.calibration for c in KERNEL_CASES) > len(KERNEL_CASES) / 2
    for case in KERNEL_CASES:
        assert case.kind == "kernel" and case.id.startswith("kernel-")
        result = run_case(case)
        assert result.predicted is not None, (case.id, result.error)
        assert result.passed, case.id  # within tolerance or a documented known gap
        pub = case.published
        quoted = {f"{pub:,.0f}", f"{pub:,.1f}", f"{pub:.1f}", f"{pub:.0f}"}
        assert any(q in case.citation for q in quoted), (case.id, case.citation)
