"""The achievable rates of one serving replica's kernels on its part: which tensor-core
dtype its GEMMs run in for a weight format (or whether the weights are dequantised in the
main loop, weight-only), the GEMM, attention and HBM rates the step model prices with, and
the expert GEMM kernel a step runs: the M-tile its grouped expert GEMMs pad rows to and,
under wide EP on Hopper, the masked grouped GEMM behind DeepEP's low-latency dispatch.
:class:`~gputwin.perf.serving.ServingPerf` reads them once per replica. See
docs/serving-model.md and docs/serving-engines.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gputwin.catalog.schema import Accelerator
from gputwin.perf.attention_rate import serving_fwd_rate
from gputwin.perf.calibration import default_calibration
from gputwin.perf.engines import EngineProfile, engine_profile
from gputwin.perf.serving_calib import ServingCalibration
from gputwin.perf.serving_shapes import FP4_WEIGHTS, WEIGHT_BYTES

if TYPE_CHECKING:
    from gputwin.perf.serving import ServingConfig


def runs_weight_only(acc: Accelerator, weights_dtype: str) -> bool:
    """True when ``weights_dtype`` has no tensor-core rate on ``acc``.

    Such weights are stored in their own format (the weight bytes, hence the memory-bound
    decode, are theirs) and dequantised to BF16 in the GEMM main loop, which runs at the
    BF16 rate: int4 everywhere (AWQ/GPTQ Marlin kernels); FP4 formats on parts without FP4
    tensor cores (Hopper, Ampere, MI300X: vLLM's FP4 Marlin, the Triton MXFP4 MoE kernels
    that serve gpt-oss on Hopper); fp8/int8 on parts without that rate (A100 fp8, B300
    int8). One rule for every format, :func:`_compute_peak_dtype`'s."""
    if weights_dtype in ("bf16", "fp16"):
        return False
    return _compute_peak_dtype(acc, weights_dtype) not in ("fp8", "int8", "fp4")


def _compute_peak_dtype(acc: Accelerator, weights_dtype: str) -> str:
    """The tensor-core dtype the GEMMs of ``weights_dtype`` weights run in on ``acc``.

    W8A8 (fp8, int8) at that rate; NVFP4 (``fp4``/``nvfp4``) W4A4 on Blackwell's
    block-scaled FP4 MMA at the FP4 rate (NVIDIA Blackwell architecture technical brief,
    2024); MXFP4 with MXFP8 activations, as the MXFP4 checkpoints in circulation (gpt-oss)
    are served on Blackwell (TensorRT-LLM's and FlashInfer's W4A8 MXFP4 x MXFP8 MoE kernels;
    the MMA takes E2M1 weights against E4M3 activations at the FP8 rate); anything else at
    the BF16 rate (weight-only or bf16)."""
    peaks = acc.peak_flop_per_s
    if weights_dtype == "mxfp4" and "fp4" in peaks and "fp8" in peaks:
        return "fp8"
    w = "fp4" if weights_dtype in FP4_WEIGHTS else weights_dtype
    if w in ("fp8", "int8", "fp4") and w in peaks:
        return w
    return "bf16" if "bf16" in peaks else next(iter(peaks))


def timing_weights_dtype(c: ServingConfig, prof: EngineProfile) -> str:
    """The weight dtype ``c``'s steps are priced in under ``prof``: ``c.weights_dtype``,
    except W4A4 FP4 weights (those run at the FP4 rate, :func:`_compute_peak_dtype`) on a
    part whose vendor the profile lists in ``fp4_as_fp8_on``: those steps are priced as
    the FP8 GEMMs of the same shape, FP8 rate and FP8 weight bytes, because the published
    runs of the stock ROCm engines on CDNA 4 are no faster with MXFP4 than with FP8
    (perf/engines.yaml has the figures). The weights keep their own bytes in memory."""
    acc = c.hw.accelerator
    if (c.weights_dtype in FP4_WEIGHTS and prof.fp4_runs_as_fp8(acc.vendor)
            and _compute_peak_dtype(acc, c.weights_dtype) == "fp4"
            and "fp8" in acc.peak_flop_per_s):
        return "fp8"
    return c.weights_dtype


def device_rates(c: ServingConfig, cal: ServingCalibration,
                 ) -> tuple[float, float, float, float, tuple[float, float]]:
    """The replica's achievable rates: (GEMM FLOP/s, compute multiplier of weights
    dequantised in the main loop, attention FLOP/s, HBM bytes/s, the (smallest, largest)
    M-tile in rows per expert of its expert GEMMs)."""
    accel = c.hw.accelerator
    train = default_calibration().for_accelerator(accel.name)
    coeff = cal.for_accelerator(accel.name)
    dtype = _compute_peak_dtype(accel, c.weights_dtype)
    peak = accel.peak_for(dtype)
    prof = engine_profile(c.engine)
    weight_only = runs_weight_only(accel, c.weights_dtype)
    gemm_rate = (peak * train.gemm_frac(dtype) * coeff.compute_eff_mult
                 * prof.gemm_mult(dtype, weight_only))
    # 4-bit weights dequantised in the main loop (int4 AWQ/GPTQ, FP4 without FP4 MMA)
    gemm_mult = (cal.int4_dequant_compute_mult
                 if weight_only and WEIGHT_BYTES[c.weights_dtype] < 1.0 else 1.0)
    # the fused kernel's forward (perf/attention_rate.py, the training model's rule): BF16,
    # or the GEMM dtype on a part without a BF16 peak
    attn_dtype = "bf16" if accel.peak_flop_per_s.get("bf16") else dtype
    attn_rate = serving_fwd_rate(accel, train, attn_dtype, cal.attention_eff_mult,
                                 prof.attention_eff_mult)
    bw = accel.memory_bandwidth_bytes_per_s * coeff.bandwidth_frac
    return (gemm_rate, gemm_mult, attn_rate, bw,
            expert_tile_rows(accel, c.weights_dtype, weight_only, prof, cal))


def expert_tile_rows(acc: Accelerator, weights_dtype: str, weight_only: bool,
                     prof: EngineProfile, cal: ServingCalibration) -> tuple[float, float]:
    """(smallest, largest) M-tile, in rows per expert, that the grouped expert GEMMs of
    ``prof``'s engine on ``acc`` pad a step's rows to; in between the tile follows the rows
    (:meth:`gputwin.perf.serving.ServingPerf._expert_rate`).

    Weight-only experts (mixed-input kernels, MARLIN's 16-row tiles at every batch):
    ``weight_only_expert_half_rows`` both ways. Native-format experts on NVIDIA parts with
    FP4 tensor cores (Blackwell) in a format the engine runs on kernels that pick their
    token tile per step (FlashInfer's TRTLLM-Gen MoE: 8 to 64 rows per expert): the
    profile's ``blackwell_moe_min_tile_rows`` up to ``gemm_half_tokens`` (perf/engines.yaml
    has the sources). Any other expert GEMM: ``gemm_half_tokens`` at every batch."""
    if weight_only:
        return cal.weight_only_expert_half_rows, cal.weight_only_expert_half_rows
    hi = cal.gemm_half_tokens
    lo = hi
    if acc.vendor.lower() == "nvidia" and "fp4" in acc.peak_flop_per_s:
        lo = min(prof.blackwell_moe_min_tile_rows.get(weights_dtype, hi), hi)
    return lo, hi


def masked_expert_half_rows(c: ServingConfig, prof: EngineProfile, cal: ServingCalibration,
                            dense_rate_flop_per_s: float, bw_bytes_per_s: float) -> float:
    """Rows per expert at which a masked grouped expert GEMM reaches half the dense rate,
    or 0 where the replica's decode steps do not run one.

    Wide EP (``dp_attention > 1``) with experts in a format the engine runs on DeepEP's
    low-latency dispatch into a masked grouped GEMM (``prof.masked_moe_formats``: SGLang's
    FP8 DeepGEMM path) on an NVIDIA part with FP8 and without FP4 tensor cores (Hopper,
    where DeepGEMM's figures were measured; Blackwell's FP8 MoE path is not fitted and
    keeps the narrow-expert pricing). The kernel streams each touched expert's
    weights once and hides only part of that read under its MMAs, so an expert costs
    ``FLOP/rate + f·weight bytes/bandwidth``, i.e. the dense rate at
    ``rows/(rows + f·ridge·weight bytes per element/2)`` with ``ridge = rate/bandwidth``
    and ``f = masked_expert_exposed_read_frac`` (fitted on DeepGEMM's H20 and H800
    figures, perf/serving_calibration.yaml)."""
    acc = c.hw.accelerator
    peaks = acc.peak_flop_per_s
    if (c.dp_attention <= 1 or acc.vendor.lower() != "nvidia" or "fp4" in peaks
            or "fp8" not in peaks or c.weights_dtype not in prof.masked_moe_formats
            or runs_weight_only(acc, c.weights_dtype)):
        return 0.0
    ridge = dense_rate_flop_per_s / bw_bytes_per_s
    return cal.masked_expert_exposed_read_frac * ridge * WEIGHT_BYTES[c.weights_dtype] / 2.0


__all__ = [
    "device_rates", "expert_tile_rows", "masked_expert_half_rows", "runs_weight_only",
    "timing_weights_dtype",
]
