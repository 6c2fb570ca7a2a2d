"""One GEMM's time: the rule the training model and the kernel check share.

A ``[M, K] x [K, N]`` GEMM takes the longer of its compute and its memory traffic:

- compute: ``FLOP / (rate · g(M)·g(N)·g(K))`` with ``g(x) = x/(x + half_dim)``: a small
  dimension fills fewer tensor-core tiles (``rate`` is the part's peak times its measured
  GEMM fraction, ``half_dim`` ``gemm_half_dim`` of ``perf/calibration.yaml``);
- memory: each operand read once and the result written once,
  ``(M·K + K·N)·b_in + M·N·b_out``, over HBM at ``memory_bw_frac`` of its peak (the rate
  the memory-bound kernels run at).

Training GEMMs have M in the thousands (tokens per micro-batch, or per expert) and are
compute-bound; a thin GEMM (M of 64-128, a decode step's shape) reads its weights at the
bandwidth, which ``g`` alone cannot see (DeepGEMM's M = 64 FP8 GEMM on H800 runs at
2,668 GB/s of 3,350, 336 TFLOPS, half of what ``g`` gives; validation kind ``kernel``).
"""

from __future__ import annotations

#: Bytes per element of a GEMM operand by dtype (no block scales: they are a few per cent of
#: the weights at most and read once per tile).
OPERAND_BYTES: dict[str, float] = {"fp64": 8.0, "fp32": 4.0, "tf32": 4.0, "bf16": 2.0,
                                   "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp6": 0.75,
                                   "fp4": 0.5, "int4": 0.5}
RESULT_BYTES = 2.0  # a BF16 result (FP8 and FP4 GEMMs write BF16 too)


def shape_efficiency(m: float, n: float, k: float, half_dim: float) -> float:
    """``g(M)·g(N)·g(K)``, the share of the GEMM rate a shape reaches."""
    return _g(m, half_dim) * _g(n, half_dim) * _g(k, half_dim)


def _g(x: float, half: float) -> float:
    return x / (x + half) if x > 0 else 0.0


def traffic_bytes(m: float, n: float, k: float, dtype: str) -> float:
    """Operands read once and the result written once."""
    return (m * k + k * n) * OPERAND_BYTES.get(dtype, 2.0) + m * n * RESULT_BYTES


def gemm_times_s(m: float, n: float, k: float, dtype: str, *, rate_flop_per_s: float,
                 half_dim: float, bandwidth_bytes_per_s: float) -> tuple[float, float]:
    """``(compute_s, memory_s)`` of one GEMM; the longer one is its time."""
    eff = shape_efficiency(m, n, k, half_dim)
    if eff <= 0:
        return 0.0, 0.0
    return (2.0 * m * n * k / (rate_flop_per_s * eff),
            traffic_bytes(m, n, k, dtype) / bandwidth_bytes_per_s)


def gemm_time_s(m: float, n: float, k: float, dtype: str, *, rate_flop_per_s: float,
                half_dim: float, bandwidth_bytes_per_s: float, copies: float = 1.0) -> float:
    """Seconds of ``copies`` GEMMs of one shape: the longer of compute and traffic."""
    if copies <= 0:
        return 0.0
    return copies * max(gemm_times_s(m, n, k, dtype, rate_flop_per_s=rate_flop_per_s,
                                     half_dim=half_dim,
                                     bandwidth_bytes_per_s=bandwidth_bytes_per_s))
