"""Seeded fault events on a cluster layout (the simulation applies them to the ledger).

All enabled models form one superposed Poisson process over the whole cluster: the gap to
the next fault is exponential with the total rate Σ rate × units, the model is drawn by its
share of the rate and the struck unit uniformly (a GPU → its node; a leaf → every node
under it; a node → itself). One named RNG stream, so the same seed gives the same faults,
and adding a job never moves a fault.

A cluster that faults more than once a second on average (``MIN_MEAN_S_BETWEEN_FAULTS``) is
refused: no job restarts between such faults, and a run would spend its wall time drawing
them (``failures.rate_scale: 1e20`` asked for ~1e14 a simulated second).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.errors import InputError
from gputwin.reliability.faults import FaultModel

__all__ = ["MIN_MEAN_S_BETWEEN_FAULTS", "Fault", "FaultInjector"]

#: The shortest mean time between faults over a whole cluster a run accepts (seconds).
MIN_MEAN_S_BETWEEN_FAULTS = 1.0


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault at ``time_s`` of ``model`` taking ``nodes`` (its blast radius)."""

    time_s: float
    model: FaultModel
    nodes: tuple[int, ...]


class FaultInjector:
    """Draws faults one after another (``next_fault``); no simulation state."""

    __slots__ = ("_layout", "_models", "_probs", "_rng", "_total_rate_per_s")

    def __init__(self, models: Sequence[FaultModel], layout: ClusterLayout,
                 rng: np.random.Generator) -> None:
        """Raises InputError (at ``failures``) when the models fault the cluster more often
        than once per ``MIN_MEAN_S_BETWEEN_FAULTS``."""
        self._layout = layout
        self._models = [m for m in models if m.rate_per_unit_hour > 0]
        rates = np.array([m.rate_per_s(self._units(m)) for m in self._models], dtype=float)
        self._total_rate_per_s = float(rates.sum())
        if self._total_rate_per_s * MIN_MEAN_S_BETWEEN_FAULTS > 1.0:
            raise InputError(
                f"the fault rates strike the cluster's {layout.total_gpus} GPUs every "
                f"{1.0 / self._total_rate_per_s:.3g} s on average; a run needs at least "
                f"{MIN_MEAN_S_BETWEEN_FAULTS:g} s between faults (no job restarts faster): "
                "lower rate_scale or the models' rates", where="failures")
        self._probs = rates / self._total_rate_per_s if self._total_rate_per_s > 0 else rates
        self._rng = rng

    @property
    def rate_per_s(self) -> float:
        """Faults per second over the whole cluster (every model)."""
        return self._total_rate_per_s

    def _units(self, model: FaultModel) -> int:
        lay = self._layout
        return {"gpu": lay.total_gpus, "node": lay.num_nodes, "leaf": lay.num_leaves}[model.unit]

    def next_fault(self, now_s: float) -> Fault | None:
        """The next fault after ``now_s`` (``None`` when no model has a rate)."""
        if self._total_rate_per_s <= 0:
            return None
        rng = self._rng
        time_s = now_s + float(rng.exponential(1.0 / self._total_rate_per_s))
        model = self._models[int(rng.choice(len(self._models), p=self._probs))]
        unit = int(rng.integers(self._units(model)))
        lay = self._layout
        if model.unit == "gpu":
            node = unit // lay.gpus_per_node
        elif model.unit == "node":
            node = unit
        else:
            node = lay.leaf_nodes(unit)[0]
        nodes = (tuple(lay.leaf_nodes(lay.leaf_of(node))) if model.blast == "leaf"
                 else (node,))
        return Fault(time_s, model, nodes)
