"""Per-node plugins (filter, score) and gang placement plugins (first-fit, topology)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gputwin.cluster.ledger import Placement
from gputwin.errors import InputError
from gputwin.scheduling.api import (
    CycleState,
    FilterPlugin,
    PlacementPlugin,
    PluginArgs,
    PluginContext,
    QueuedJob,
    ScorePlugin,
)
from gputwin.scheduling.placement import group_pack, place_ranked, torus_slice_place


def _need(job: QueuedJob) -> int:
    return job.spec.num_gpus


class FitsFilter(FilterPlugin):
    """Nodes that can contribute: enough free GPUs for a single-node job; any free GPU for
    a multi-node gang (the placement decides the shape)."""

    name = "filter/fits"

    def filter(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray | None:
        need = _need(job)
        gpn = state.layout.gpus_per_node
        return free >= (need if need <= gpn else 1)


class NodeHealthyFilter(FilterPlugin):
    """Only nodes that are ``up`` (not draining or down)."""

    name = "filter/node-healthy"

    def filter(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray | None:
        health = state.snapshot.health
        return None if not health.any() else health == 0


class BinpackScore(ScorePlugin):
    """Prefer the fullest nodes that fit (keeps whole nodes free for big gangs)."""

    name = "score/binpack"

    def score(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray:
        gpn = state.layout.gpus_per_node
        return 100.0 * (1.0 - free / gpn)


class SpreadScore(ScorePlugin):
    """Prefer the emptiest nodes (spreads load; less interference, more fragmentation)."""

    name = "score/spread"

    def score(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray:
        gpn = state.layout.gpus_per_node
        return 100.0 * free / gpn


class FirstFitPlacement(PlacementPlugin):
    """Whole free nodes + remainder, in score order (node id order without scores)."""

    name = "placement/first-fit"

    def place(self, job: QueuedJob, state: CycleState, free: np.ndarray,
              scores: np.ndarray | None) -> Placement | None:
        return place_ranked(state.layout, free, _need(job), scores)


Level = Literal["domain", "leaf", "pod", "cluster"]
_ORDER: tuple[Level, ...] = ("domain", "leaf", "pod", "cluster")


class TopologyArgs(PluginArgs):
    """``required``: the gang must fit inside one group of this level (``None``: may span
    the cluster). ``preferred``: the innermost level tried first (falls back outwards)."""

    required: Level | None = None
    preferred: Level = "leaf"
    min_nodes: int = Field(default=2, ge=2, description="apply to gangs of this many nodes+")


class TopologyPlacement(PlacementPlugin):
    """Topology-aware gang placement (Kueue TAS-like required/preferred levels).

    For a multi-node gang, tries a single group at ``preferred`` level (tightest fit),
    then each outer level up to ``required``; if none holds it and nothing is required,
    spans the fewest groups of the preferred level (emptiest groups first). A job's step
    time comes from its real placement, so spanning leaves on an oversubscribed fabric
    makes it slower. Single-node jobs: best fit.
    """

    name = "placement/topology"
    Args = TopologyArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, TopologyArgs)
        layout = ctx.layout
        self.groups = {lvl: np.asarray(layout.level_ids(lvl), dtype=np.int64)
                       for lvl in _ORDER}
        start = _ORDER.index(args.preferred)
        stop = _ORDER.index(args.required) if args.required else len(_ORDER) - 1
        self.levels = _ORDER[start: max(start, stop) + 1]
        self.required = args.required

    def place(self, job: QueuedJob, state: CycleState, free: np.ndarray,
              scores: np.ndarray | None) -> Placement | None:
        layout = state.layout
        need = _need(job)
        assert isinstance(self.args, TopologyArgs)
        if need <= layout.gpus_per_node * (self.args.min_nodes - 1) or need <= layout.gpus_per_node:
            return place_ranked(layout, free, need, scores, best_fit=scores is None)
        for level in self.levels:
            if level == "cluster":
                break
            placement = group_pack(layout, free, need, self.groups[level], allow_span=False)
            if placement is not None:
                return placement
        if self.required not in (None, "cluster"):
            return None
        return group_pack(layout, free, need, self.groups[self.args.preferred])


class TorusSlicePlacement(PlacementPlugin):
    """Slices of a TPU-style torus cluster (``cluster.optics``): up to a block (4x4x4
    chips) on one block, best fit; larger, whole free blocks -- any of them with an optical
    circuit switch, a fixed aligned run of blocks when statically wired. A job whose slice
    lost a host waits for blocks that satisfy the same rule, so the OCS's smaller blast
    radius follows from the placement (:func:`~gputwin.scheduling.placement.torus_slice_place`).
    Set by the run for a cluster with ``optics:``; named without one it is an error."""

    name = "placement/torus-slices"

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        if ctx.torus_wiring is None or ctx.hosts_per_block < 1:
            raise InputError("the torus-slices placement needs a torus cluster with "
                             "`cluster.optics`", where="scheduler.plugins.placement")
        self.static = ctx.torus_wiring == "static"

    def place(self, job: QueuedJob, state: CycleState, free: np.ndarray,
              scores: np.ndarray | None) -> Placement | None:
        return torus_slice_place(state.layout, free, _need(job), self.ctx.hosts_per_block,
                                 static=self.static)
