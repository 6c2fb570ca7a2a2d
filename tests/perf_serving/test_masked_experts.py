"""Masked grouped expert GEMMs of a DeepEP wide-EP decode (engine profile sglang-deepep)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving import ServingConfig, ServingPerf, step_components
from gputwin.perf.serving_calib import default_serving_calibration
from gputwin.topology.hardware import resolve_hardware


def _perf(gpu: str = "h20", engine: str = "sglang-deepep", dp: int = 16,
          weights: str = "fp8", **cal_changes: float) -> ServingPerf:
    cat = default_catalog()
    cal = dataclasses.replace(default_serving_calibration(), **cal_changes)
    return ServingPerf(ServingConfig(
        cat.model("deepseek-r1"), resolve_hardware(cat, gpu=gpu, system=None), tp=1,
        ep=dp, dp_attention=dp, weights_dtype=weights, kv_cache_dtype="fp8",
        engine=engine), cal)


def _decode(p: ServingPerf, seqs_per_gpu: int, ctx: int = 4096) -> float:
    n = seqs_per_gpu * p.config.dp_attention
    return p.step_time_s(0, 0.0, 0.0, n, float(n * ctx))


def _prefill(p: ServingPerf, tokens_per_gpu: int) -> float:
    n = tokens_per_gpu * p.config.dp_attention
    return p.step_time_s(n, 0.0, n * n / 2 / p.config.dp_attention, 0, 0.0)


def test_the_masked_half_is_the_exposed_read_over_the_ridge() -> None:
    """rows/(rows + f·ridge·bytes/2): an expert costs FLOP/rate + f·bytes/bandwidth."""
    p = _perf()
    f = p.calibration.masked_expert_exposed_read_frac
    ridge = p._gemm_rate / p._gemm_mult / p._bw
    assert p._masked_half == pytest.approx(f * ridge * 1.0 / 2)  # FP8: 1 byte per weight
    # a part with more FLOP per byte (H100) saturates at more rows per expert
    assert _perf("h100-sxm-80gb")._masked_half > 4 * p._masked_half
    # twice the exposed read, twice the half
    assert _perf(masked_expert_exposed_read_frac=2 * f)._masked_half == pytest.approx(
        2 * p._masked_half)


@pytest.mark.parametrize(("gpu", "engine", "dp", "weights"), [
    ("h20", "sglang", 16, "fp8"),  # SGLang's default MoE path is not DeepEP's
    ("h20", "trtllm", 16, "fp8"),
    ("h20", "sglang-deepep", 1, "fp8"),  # no wide EP, no DeepEP low-latency dispatch
    ("b200", "sglang-deepep", 16, "fp8"),  # Blackwell FP8 MoE: not fitted
    ("h20", "sglang-deepep", 16, "bf16"),  # DeepGEMM's masked figures are FP8
])
def test_only_deepep_fp8_wide_ep_on_hopper_runs_masked(gpu: str, engine: str, dp: int,
                                                       weights: str) -> None:
    assert _perf(gpu, engine, dp, weights)._masked_half == 0.0


def test_decode_steps_drop_the_narrow_expert_factor_and_prefill_keeps_it() -> None:
    deepep, plain = _perf(), _perf(engine="sglang")
    # decode (DeepEP low-latency, masked layout): far faster than under the narrow-expert
    # factor at a few rows per expert on the compute-starved H20
    for seqs in (8, 32, 48):
        assert _decode(deepep, seqs) < 0.7 * _decode(plain, seqs)
    # but no faster than reading the touched experts' weights once (the layer roofline)
    no_read = _perf(masked_expert_exposed_read_frac=0.01)
    assert _decode(no_read, 8) <= _decode(deepep, 8)
    assert _decode(no_read, 8) > 0.5 * _decode(deepep, 8)
    # prefill (normal kernels, contiguous layout) is priced as before
    assert _prefill(deepep, 4096) == pytest.approx(_prefill(plain, 4096))


def test_step_components_agree_with_the_step() -> None:
    p = _perf()
    n = 16 * 16
    parts = step_components(p, 0, 0.0, 0.0, n, float(n * 4096))
    coeff = p.calibration.for_accelerator("h20")
    total = (parts["steps"] * p._step_oh + parts["seqs"] * p._seq_oh
             + parts["layers"] * p._layer_oh
             + parts["compute_unit_s"] / coeff.compute_eff_mult
             + parts["memory_unit_s"] / coeff.bandwidth_frac + parts["fixed_s"])
    assert total == pytest.approx(_decode(p, 16), rel=1e-6)


def test_the_curve_follows_deepgemms_published_kernel_figures() -> None:
    """The fitted curve against the 12 DeepGEMM figures it was fitted on (H20 masked, PR
    192; H800 README as the H100 SXM): each within 25 %, where the narrow-expert pricing
    was 3-6x too slow on the H20."""
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    from probe_small_m_experts import DEEPGEMM_H20_PR192, DEEPGEMM_H800_README

    figures = [("h20", r, t) for r, _, t, _ in DEEPGEMM_H20_PR192] + [
        ("h100-sxm-80gb", r, t) for r, _, t, _ in DEEPGEMM_H800_README]
    for gpu, rows, published in figures:
        p = _perf(gpu)
        g, width_eff = next((g, w) for g, w in p._groups if g.local_experts)
        routed = round(rows / g.rows_per_expert_per_token)
        masked = p._expert_rate(g, routed, width_eff, 1.0, masked=True) / 1e12
        assert abs(masked / published - 1) < 0.25, (gpu, rows, masked, published)
        if gpu == "h20":
            assert p._expert_rate(g, routed, width_eff, 1.0) / 1e12 < published / 3
