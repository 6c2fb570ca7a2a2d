"""What fails in a serving run: the fault models a replica sees, site outages, the plan.

:class:`FaultPlan` is the resolved ``failures:`` of a serving run (built by
``run/serving_faults.py``; applied by :class:`~gputwin.serving.replica_faults.ReplicaFaults`).
Each replica fails as a Poisson process whose rate is the sum, over the fault models (the
run layer passes those of ``reliability/faults.py``, the same catalog as cluster runs; here
only their :class:`FaultCause` face is used), of the model's rate per unit times the units
the replica spans: its GPUs for per-GPU models, its nodes for per-node ones, one leaf for
per-leaf ones. Planned maintenance and stragglers are left out (a planned drain moves
requests without loss; a slow replica is not a failed one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class FaultCause(Protocol):
    """What a replica fault needs of a fault model (``reliability.faults.FaultModel``)."""

    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...  # gpu | node | leaf
    @property
    def planned(self) -> bool: ...
    @property
    def is_straggler(self) -> bool: ...
    @property
    def detect_s(self) -> float: ...
    def rate_per_s(self, num_units: int) -> float: ...


@dataclass(frozen=True, slots=True)
class SiteOutage:
    """Every replica of ``groups`` (the fleet services at ``site``) down over
    ``[start_s, end_s)``; their requests retried after ``detect_s``."""

    site: str
    groups: tuple[str, ...]
    start_s: float
    end_s: float
    detect_s: float


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Resolved ``failures:`` of a serving run (built in ``run/serving_faults.py``)."""

    models: tuple[FaultCause, ...]
    gpus_per_node: dict[str, int]  # service -> GPUs per node of its hardware
    restart_s: dict[str, float]  # service -> fault to replacement serving
    max_retries: int
    rng: np.random.Generator
    outages: tuple[SiteOutage, ...] = ()


def replica_rates_per_s(models: tuple[FaultCause, ...], gpus: int, gpus_per_node: int
                        ) -> list[tuple[FaultCause, float]]:
    """Each unplanned, non-straggler model's fault rate (per second) for one replica of
    ``gpus`` GPUs (on ``ceil(gpus / gpus_per_node)`` nodes, within one leaf)."""
    nodes = -(-gpus // max(1, gpus_per_node))
    units = {"gpu": gpus, "node": nodes, "leaf": 1}
    out = []
    for m in models:
        if m.planned or m.is_straggler:
            continue
        rate = m.rate_per_s(units[m.unit])
        if rate > 0:
            out.append((m, rate))
    return out


def draw_fault(rates: list[tuple[FaultCause, float]], rng: np.random.Generator,
               from_s: float) -> tuple[float, FaultCause] | None:
    """The next fault of a replica with these per-model ``rates``, counted from ``from_s``:
    its time (exponential at the total rate) and its model (chosen in proportion to the
    rates); ``None`` when the total rate is zero. Two draws from ``rng``, in that order."""
    total = sum(r for _, r in rates)
    if total <= 0:
        return None
    at = from_s + float(rng.exponential(1.0 / total))
    pick = float(rng.random()) * total
    model = rates[-1][0]
    for m, r in rates:
        if pick < r:
            model = m
            break
        pick -= r
    return at, model
