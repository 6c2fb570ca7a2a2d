"""Analytic goodput of one synchronous training job under failures (pure functions).

A job spanning ``num_gpus`` GPUs on ``num_nodes`` nodes under ``num_leaves`` leaf switches
sees independent Poisson faults: rate = Σ_model rate_per_unit_hour × units it spans (GPUs,
nodes or leaves). It checkpoints every ``τ`` seconds of training; a blocking write takes
``δ``. First-order model (valid while the waste is small):

- unexpected fault: lose the work since the last checkpoint (``(τ + δ)/2`` on average),
  the detection time and the restart ``R`` (reschedule + load the checkpoint + warm-up);
- planned interruption: checkpoint first, pay ``R`` only;
- ETTR = (1 − λ_u·(detect + R + (τ+δ)/2) − λ_p·R) × τ / (τ + δ) (0 when negative);
  asynchronous checkpointing hides ``δ`` from the step (the loss window stays ``τ + δ``).

Young (1974): τ = √(2δM); Daly (2006) adds higher-order terms; ``M`` = 1/λ_u.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from gputwin.reliability.faults import FaultModel

__all__ = ["GoodputEstimate", "JobSpan", "daly_interval_s", "estimate_goodput",
           "interruption_rates_per_s", "young_interval_s"]


@dataclass(frozen=True, slots=True)
class JobSpan:
    """The parts a job spans (fault rates scale with them)."""

    num_gpus: int
    num_nodes: int
    num_leaves: int = 1

    def units(self, unit: str) -> int:
        return {"gpu": self.num_gpus, "node": self.num_nodes, "leaf": self.num_leaves}[unit]


def interruption_rates_per_s(models: Iterable[FaultModel], span: JobSpan) -> dict[str, float]:
    """Interruptions per second of the job, by fault model (stragglers excluded)."""
    return {m.name: m.rate_per_s(span.units(m.unit)) for m in models if not m.is_straggler}


def young_interval_s(checkpoint_s: float, mtbf_s: float) -> float:
    """Young's first-order optimum √(2δM) (seconds of training between checkpoints)."""
    return math.sqrt(2.0 * checkpoint_s * mtbf_s)


def daly_interval_s(checkpoint_s: float, mtbf_s: float) -> float:
    """Daly's (2006) higher-order optimum; ``M`` when ``δ ≥ 2M``."""
    if checkpoint_s >= 2.0 * mtbf_s:
        return mtbf_s
    x = checkpoint_s / (2.0 * mtbf_s)
    return math.sqrt(2.0 * checkpoint_s * mtbf_s) * (1 + math.sqrt(x) / 3 + x / 9) - checkpoint_s


@dataclass(frozen=True, slots=True)
class GoodputEstimate:
    """Expected interruptions and effective training time over ``duration_s`` of wall time."""

    duration_s: float
    interruptions: float  # expected unexpected interruptions
    interruptions_planned: float
    mtbf_s: float  # mean time between unexpected interruptions (inf without faults)
    checkpoint_interval_s: float
    young_daly_interval_s: float
    checkpoint_write_s: float
    detect_s: float  # rate-weighted mean detection time of unexpected faults
    restart_s: float
    lost_time_s: float  # detection + restart + lost work, all interruptions
    checkpoint_overhead_s: float  # blocking checkpoint writes
    ettr: float
    async_checkpoint: bool = False
    by_cause: dict[str, float] = field(default_factory=dict)  # expected interruptions

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if math.isinf(self.mtbf_s):
            out["mtbf_s"] = None
        return out


def estimate_goodput(models: Iterable[FaultModel], span: JobSpan, *, duration_s: float,
                     checkpoint_write_s: float, restart_s: float,
                     checkpoint_interval_s: float | None = None,
                     async_checkpoint: bool = False) -> GoodputEstimate:
    """Expected interruptions, lost time and ETTR over ``duration_s`` of wall time.

    ``checkpoint_interval_s`` None → Daly's optimum (Young's when δ is tiny); ``restart_s``
    excludes detection (each model has its own). Raises ``ValueError`` on negative inputs.
    """
    if duration_s < 0 or checkpoint_write_s < 0 or restart_s < 0:
        raise ValueError("durations must be >= 0")
    models = list(models)
    rates = interruption_rates_per_s(models, span)
    planned = {m.name for m in models if m.planned}
    lam_u = sum(r for n, r in rates.items() if n not in planned)
    lam_p = sum(r for n, r in rates.items() if n in planned)
    detect = (sum(rates[m.name] * m.detect_s for m in models
                  if m.name in rates and not m.planned) / lam_u) if lam_u else 0.0
    mtbf = 1.0 / lam_u if lam_u else math.inf
    delta = checkpoint_write_s
    optimum = daly_interval_s(delta, mtbf) if lam_u and delta > 0 else (
        math.inf if not lam_u else 0.0)
    tau = checkpoint_interval_s if checkpoint_interval_s is not None else optimum
    if not tau > 0 or math.isinf(tau):
        tau = checkpoint_interval_s or 3600.0  # no cost or no faults: any interval is free
    block = 0.0 if async_checkpoint else delta
    per_failure = detect + restart_s + (tau + delta) / 2.0
    waste = lam_u * per_failure + lam_p * restart_s
    ettr = max(0.0, (1.0 - waste) * tau / (tau + block))
    return GoodputEstimate(
        duration_s=duration_s, interruptions=lam_u * duration_s,
        interruptions_planned=lam_p * duration_s, mtbf_s=mtbf, checkpoint_interval_s=tau,
        young_daly_interval_s=optimum, checkpoint_write_s=delta, detect_s=detect,
        restart_s=restart_s, lost_time_s=min(duration_s, waste * duration_s),
        checkpoint_overhead_s=duration_s * block / (tau + block) * (1.0 - min(1.0, waste)),
        ettr=ettr, async_checkpoint=async_checkpoint,
        by_cause={n: r * duration_s for n, r in sorted(rates.items())})
