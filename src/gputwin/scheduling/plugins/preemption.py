"""Post-filter plugins: preemption of lower-priority jobs, and defragmentation by migration.

Both only *propose*; the framework applies the proposal to the cycle's scratch state and
the simulator charges the cost: a preempted job loses the work done since its last
checkpoint, re-queues and pays its start-up again; a migrated job checkpoints, restarts
elsewhere at once and pays its start-up again (no work lost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gputwin.cluster.ledger import Placement
from gputwin.scheduling.api import (
    CycleState,
    PluginArgs,
    PostFilterPlugin,
    PostFilterResult,
    QueuedJob,
    RunningJob,
)
from gputwin.scheduling.placement import place_ranked

if TYPE_CHECKING:
    from gputwin.scheduling.hooks import SchedulerHandle


def _add(scratch: np.ndarray, health: np.ndarray, placement: Placement, sign: int) -> int:
    moved = 0
    for node, count in zip(placement.nodes, placement.gpus, strict=True):
        if health[node] == 0:
            scratch[node] += sign * count
            moved += count
    return moved


class PreemptArgs(PluginArgs):
    min_priority_gap: int = Field(default=1, ge=1, description="victim.priority <= p - gap")
    min_runtime_s: float = Field(default=0.0, ge=0,
                                 description="never preempt jobs younger than this")


class PreemptLowestPriority(PostFilterPlugin):
    """Free room for a blocked job by preempting strictly lower-priority running jobs:
    lowest priority first, youngest first among equals (least work lost); then victims that
    turn out unnecessary are spared (Kubernetes' "reprieve")."""

    name = "post-filter/preempt-lowest-priority"
    Args = PreemptArgs

    def post_filter(self, fw: SchedulerHandle, job: QueuedJob,
                    state: CycleState) -> PostFilterResult | None:
        assert isinstance(self.args, PreemptArgs)
        limit = job.spec.priority - self.args.min_priority_gap
        young = state.now_s - self.args.min_runtime_s
        cands = [r for r in fw.running.values()
                 if r.spec.priority <= limit and r.start_s <= young]
        need = job.spec.num_gpus
        if not cands or state.free_total + sum(r.placement.num_gpus for r in cands) < need:
            return None
        cands.sort(key=lambda r: (r.spec.priority, -r.start_s, r.job_id))
        health = state.snapshot.health
        scratch = state.free.copy()
        total = state.free_total
        chosen: list[RunningJob] = []
        placed = False
        for victim in cands:
            total += _add(scratch, health, victim.placement, +1)
            chosen.append(victim)
            if total >= need and fw.try_place(job, state, scratch)[1] is not None:
                placed = True
                break
        if not placed:
            return None
        for victim in reversed(chosen[:-1]):  # reprieve
            _add(scratch, health, victim.placement, -1)
            if fw.try_place(job, state, scratch)[1] is not None:
                chosen.remove(victim)
            else:
                _add(scratch, health, victim.placement, +1)
        return PostFilterResult(preempt=tuple(chosen),
                                reason=f"preempted by {job.job_id} "
                                       f"(priority {job.spec.priority})")


class DefragArgs(PluginArgs):
    interval_s: float = Field(default=3600.0, ge=0, description="at most one defrag per interval")
    max_moves: int = Field(default=8, gt=0, description="jobs migrated per defragmentation")


class Defragment(PostFilterPlugin):
    """When a multi-node gang is blocked only by fragmentation (enough free GPUs, not
    enough whole nodes), migrate single-node jobs off the partly free nodes that are
    closest to empty onto other nodes (best fit), until the gang fits."""

    name = "post-filter/defragment"
    Args = DefragArgs

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self._last_s = -np.inf

    def post_filter(self, fw: SchedulerHandle, job: QueuedJob,
                    state: CycleState) -> PostFilterResult | None:
        assert isinstance(self.args, DefragArgs)
        layout = state.layout
        gpn = layout.gpus_per_node
        need = job.spec.num_gpus
        if need <= gpn or state.free_total < need:
            return None
        if state.now_s - self._last_s < self.args.interval_s:
            return None
        on_node: dict[int, list[RunningJob]] = {}
        multi: set[int] = set()
        for run in fw.running.values():
            if run.placement.shares:
                multi.update(s.node for s in run.placement.shares)
            if run.placement.num_nodes == 1:
                on_node.setdefault(run.placement.nodes[0], []).append(run)
            else:
                multi.update(run.placement.nodes)
        health = state.snapshot.health
        scratch = state.free.copy()
        targets = [int(n) for n in np.argsort(-scratch, kind="stable")
                   if 0 < scratch[n] < gpn and health[n] == 0 and n not in multi]
        moves: list[tuple[RunningJob, Placement]] = []
        cleared: set[int] = set()
        receivers: set[int] = set()
        for node in targets:
            if node in receivers:
                continue
            plan: list[tuple[RunningJob, Placement]] = []
            trial = scratch.copy()
            trial[node] += sum(r.placement.num_gpus for r in on_node.get(node, []))
            for run in sorted(on_node.get(node, []), key=lambda r: -r.placement.num_gpus):
                avoid = trial.copy()
                avoid[list(cleared | {node})] = 0
                target = place_ranked(layout, avoid, run.placement.num_gpus, best_fit=True)
                if target is None:
                    break
                trial[target.nodes[0]] -= run.placement.num_gpus
                plan.append((run, target))
            else:
                if len(moves) + len(plan) > self.args.max_moves:
                    break
                scratch = trial
                moves += plan
                cleared.add(node)
                receivers.update(t.nodes[0] for _, t in plan)
                if fw.try_place(job, state, scratch)[1] is not None:
                    self._last_s = state.now_s
                    return PostFilterResult(migrate=tuple(moves),
                                            reason=f"migrated to make room for {job.job_id}")
        return None
