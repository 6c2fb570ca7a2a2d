"""One kernel as the performance models price it: a GEMM or a fused attention pass.

The training and serving models time whole layers; this module exposes the per-kernel rate
they use, so that published kernel benchmarks can check it (validation kind ``kernel``):

- GEMM ``[M, K] x [K, N]`` in ``dtype``: ``peak[dtype] · gemm_max_frac[dtype] · g(M)·g(N)·g(K)``
  with ``g(x) = x/(x + gemm_half_dim)``, or the operands' traffic over HBM at
  ``memory_bw_frac`` when that takes longer (a thin GEMM; :mod:`gputwin.perf.gemm`, the rule
  the training model uses).
- Fused attention at mean head dimension ``d = (d_qk + d_v)/2``: the training model's
  forward and backward rates (:mod:`gputwin.perf.attention_rate`) times
  ``head_dim_rate(d)`` (:mod:`gputwin.perf.attention_work`). A causal mask halves the
  work, not the rate (the published causal TFLOP/s count the half too). The training model
  runs attention at its activation dtype (BF16); an FP8 kernel is priced at the FP8 peak,
  an extrapolation.
- ``serving_tflops`` (forward only): the serving model's prefill-attention rate
  (:func:`gputwin.perf.attention_rate.serving_fwd_rate`, BF16), engine-neutral (no engine
  profile multiplier).

``tflops`` is the kernel's own rate; the training model's ``sustained_frac`` (launch gaps,
syncs, power capping in a real step) is left out of it and applied in ``in_step_tflops``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from gputwin.catalog.loader import default_catalog
from gputwin.catalog.schema import Accelerator
from gputwin.errors import InputError
from gputwin.perf.attention_rate import (
    ATTN_BWD_WORK,
    serving_fwd_rate,
    training_bwd_rate,
    training_fwd_rate,
)
from gputwin.perf.attention_work import head_dim_rate
from gputwin.perf.calibration import AcceleratorCoefficients, default_calibration
from gputwin.perf.gemm import gemm_times_s, traffic_bytes

Pass = Literal["fwd", "bwd"]


@dataclass(frozen=True, slots=True)
class KernelEstimate:
    """The model's rate for one kernel (TFLOP/s of useful work) and its time."""

    op: str
    part: str
    dtype: str
    flop: float
    tflops: float
    in_step_tflops: float
    peak_tflops: float
    serving_tflops: float | None = None
    #: a GEMM's operand traffic (bytes) and whether it, not compute, sets the time
    traffic_bytes: float | None = None
    memory_bound: bool | None = None

    @property
    def time_ms(self) -> float:
        return self.flop / (self.tflops * 1e12) * 1e3

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op, "part": self.part, "dtype": self.dtype, "flop": self.flop,
            "tflops": self.tflops, "in_step_tflops": self.in_step_tflops,
            "peak_tflops": self.peak_tflops, "efficiency": self.tflops / self.peak_tflops,
            "time_ms": self.time_ms}
        if self.serving_tflops is not None:
            out["serving_tflops"] = self.serving_tflops
        if self.traffic_bytes is not None:
            out["traffic_bytes"] = self.traffic_bytes
            out["memory_bound"] = self.memory_bound
        return out


#: An input's name (``part``, ``dtype``, ``m``, ...) → where the caller took it from (a CLI
#: flag, a validation case's key); the name itself when the caller gives none.
Where = Callable[[str], str]


def _at(where: Where | None, name: str) -> str:
    return name if where is None else where(name)


def _peak_tflops(acc: Accelerator, dtype: str, where: Where | None = None) -> float:
    try:
        return acc.peak_for(dtype) / 1e12
    except KeyError:
        raise InputError(f"{acc.name} has no {dtype!r} peak (it has: "
                         f"{', '.join(acc.peak_flop_per_s)})", where=_at(where, "dtype")
                         ) from None


def _part(part: str, where: Where | None) -> Accelerator:
    return default_catalog().accelerator(part, where=None if where is None else where("part"))


def _positive(where: Where | None = None, **dims: float) -> None:
    for name, value in dims.items():
        if not value > 0:
            raise InputError(f"must be > 0, got {value}", where=_at(where, name))


def gemm_estimate(part: str, dtype: str, m: int, n: int, k: int, *,
                  where: Where | None = None) -> KernelEstimate:
    """The model's rate for a ``[m, k] x [k, n]`` GEMM on ``part`` in ``dtype``."""
    _positive(where, m=m, n=n, k=k)
    acc = _part(part, where)
    cal = default_calibration()
    coeff = cal.for_accelerator(acc.name)
    peak = _peak_tflops(acc, dtype, where)
    flop = 2.0 * m * n * k
    rates = {"rate_flop_per_s": peak * 1e12 * coeff.gemm_frac(dtype),
             "half_dim": cal.gemm_half_dim,
             "bandwidth_bytes_per_s": acc.memory_bandwidth_bytes_per_s * cal.memory_bw_frac}
    compute_s, memory_s = gemm_times_s(m, n, k, dtype, **rates)
    rate = flop / max(compute_s, memory_s) / 1e12
    return KernelEstimate("gemm", acc.name, dtype, flop, rate, rate * coeff.sustained_frac,
                          peak, traffic_bytes=traffic_bytes(m, n, k, dtype),
                          memory_bound=memory_s > compute_s)


def attention_flop(batch: int, heads: int, seq: int, head_dim: int, head_dim_v: int,
                   causal: bool, pass_: Pass) -> float:
    """Useful FLOPs of one attention pass (q and kv length ``seq``): forward
    ``2·b·h·s²·(d_qk + d_v)``, halved when causal; backward ``ATTN_BWD_WORK`` times it."""
    fwd = 2.0 * batch * heads * float(seq) ** 2 * (head_dim + head_dim_v)
    fwd *= 0.5 if causal else 1.0
    return fwd * (ATTN_BWD_WORK if pass_ == "bwd" else 1.0)


def attention_estimate(part: str, dtype: str, head_dim: int, *, pass_: Pass = "fwd",
                       head_dim_v: int | None = None, causal: bool = True, batch: int = 1,
                       heads: int = 1, seq: int = 8192,
                       where: Where | None = None) -> KernelEstimate:
    """The model's rate for a fused attention pass on ``part``."""
    if pass_ not in ("fwd", "bwd"):
        raise InputError(f"expected fwd or bwd, got {pass_!r}", where=_at(where, "pass"))
    dv = head_dim if head_dim_v is None else head_dim_v
    _positive(where, head_dim=head_dim, head_dim_v=dv, batch=batch, heads=heads, seq=seq)
    acc = _part(part, where)
    cal = default_calibration()
    coeff = cal.for_accelerator(acc.name)
    peak = _peak_tflops(acc, dtype, where)
    head = head_dim_rate((head_dim + dv) / 2.0, cal.attention_softmax_head_dim)
    serving = None
    if pass_ == "bwd":
        rate = training_bwd_rate(acc, coeff, dtype) / 1e12 * head
    else:
        rate = training_fwd_rate(acc, coeff, dtype) / 1e12 * head
        serving = _serving_prefill_tflops(acc, coeff)
    return KernelEstimate("attention", acc.name, dtype,
                          attention_flop(batch, heads, seq, head_dim, dv, causal, pass_),
                          rate, rate * coeff.sustained_frac, peak, serving)


def _serving_prefill_tflops(acc: Accelerator, coeff: AcceleratorCoefficients) -> float:
    from gputwin.perf.serving_calib import default_serving_calibration

    if "bf16" not in acc.peak_flop_per_s:
        return 0.0
    mult = default_serving_calibration().attention_eff_mult
    return serving_fwd_rate(acc, coeff, "bf16", mult) / 1e12


def kernel_estimate(*, op: str, part: str, dtype: str = "bf16", where: Where | None = None,
                    **shape: Any) -> KernelEstimate:
    """``op`` ``gemm`` (``m``, ``n``, ``k``) or ``attention`` (``head_dim``, optional
    ``head_dim_v``, ``pass`` fwd/bwd, ``causal``, ``batch``, ``heads``, ``seq``). ``where``
    names an input's place in errors (the CLI: ``part`` → ``--gpu``)."""
    try:
        if op == "gemm":
            return gemm_estimate(part, dtype, **shape, where=where)
        if op == "attention":
            pass_ = shape.pop("pass", "fwd")
            return attention_estimate(part, dtype, pass_=pass_, **shape, where=where)
    except TypeError as exc:
        raise InputError(f"bad {op} shape: {exc}", where="inputs") from None
    raise InputError(f"expected gemm or attention, got {op!r}", where="op")
