"""The plugins of one profile by extension point, and the per-job chains that call them.

:class:`PluginChain` runs the two chains a queueing walk asks of the framework for one
job: :meth:`~PluginChain.place` (pre-filter → filter → score → placement, a dry run against
a free-GPU vector; on a mixed fleet once per GPU type the job may use) and
:meth:`~PluginChain.admit` (reserve → permit → bind, then the placement is taken from the
cycle's scratch). Neither touches the queue or the running set: the framework records what
they decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gputwin.cluster.ledger import Placement
from gputwin.scheduling.api import (
    BindPlugin,
    CycleState,
    FilterPlugin,
    PermitPlugin,
    PlacementPlugin,
    Plugin,
    PluginContext,
    PostFilterPlugin,
    PreFilterPlugin,
    QueuedJob,
    QueueingPlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
    is_share_request,
)
from gputwin.scheduling.gpu_types import GpuTypeViews
from gputwin.scheduling.permit_holds import PermitHolds
from gputwin.scheduling.scratch import ShareRoom, give_back, take
from gputwin.scheduling.status import Code, Status


@dataclass(slots=True)
class FrameworkPlugins:
    """The plugins of one profile, one list per extension point (in call order)."""

    queue_sort: QueueSortPlugin
    queueing: QueueingPlugin
    placement: PlacementPlugin
    pre_filter: list[PreFilterPlugin] = field(default_factory=list)
    filter: list[FilterPlugin] = field(default_factory=list)
    score: list[tuple[ScorePlugin, float]] = field(default_factory=list)
    reserve: list[ReservePlugin] = field(default_factory=list)
    permit: list[PermitPlugin] = field(default_factory=list)
    bind: list[BindPlugin] = field(default_factory=list)
    post_filter: list[PostFilterPlugin] = field(default_factory=list)

    def all(self) -> list[Plugin]:
        out: list[Plugin] = [self.queue_sort, self.queueing, self.placement]
        out += [*self.pre_filter, *self.filter, *(p for p, _ in self.score), *self.reserve,
                *self.permit, *self.bind, *self.post_filter]
        return out


class PluginChain:
    """The place and admit chains of one profile's plugins (see the module docstring)."""

    def __init__(self, plugins: FrameworkPlugins, ctx: PluginContext,
                 holds: PermitHolds) -> None:
        self.plugins = plugins
        self._holds = holds  # a permit WAIT holds the placement here
        self._share_room = ShareRoom(plugins.placement, ctx.gpu_type)
        self._types = GpuTypeViews(ctx)  # a mixed fleet: a gang runs on one GPU type

    def place(self, job: QueuedJob, state: CycleState,
              free: np.ndarray | None = None) -> tuple[Status, Placement | None]:
        """pre-filter → filter → score → placement, against ``free`` (default the scratch)."""
        if job.hold is not None:
            return Status(), job.hold
        plugins = self.plugins
        for plugin in plugins.pre_filter:
            status = plugin.pre_filter(job, state)
            if not status.ok:
                return status, None
        if free is None:
            free, free_total = state.free, state.free_total
        else:
            free_total = int(free.sum())
        need = job.spec.num_gpus
        if need > free_total and (job.shape is None or not is_share_request(job.spec)
                                  or not self._share_room.has_room(job.spec, state)):
            return Status.unschedulable(f"needs {need} GPUs, {free_total} free"), None
        placement = None
        views = self._types.layouts
        for gpu_type, on_type in self._types.free_by_type(job, free):  # one pass, or one per type
            if views:  # node shapes differ: the placers see this type's shape
                state.layout_view = views[gpu_type]
            for flt in plugins.filter:
                mask = flt.filter(job, state, on_type)
                if mask is not None:
                    on_type = np.where(mask, on_type, 0)
            scores = None
            if plugins.score:
                scores = np.zeros(len(on_type))
                for scorer, weight in plugins.score:
                    scores += weight * scorer.score(job, state, on_type)
            placement = plugins.placement.place(job, state, on_type, scores)
            if views:
                state.layout_view = None
            if placement is not None:
                break
        if placement is None:
            return Status.unschedulable(
                f"no gang placement for {need} GPUs ({free_total} free, "
                f"placement {plugins.placement.name})"), None
        return Status(), placement

    def admit(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        """reserve → permit → bind; on success ``placement`` is taken from the scratch (the
        caller records the start). A permit WAIT holds the placement (status WAIT) until
        its deadline; past it the job is unschedulable."""
        held = job.hold is not None
        if held:
            give_back(state, placement)
            job.hold = None
        done: list[ReservePlugin] = []
        for plugin in self.plugins.reserve:
            status = plugin.reserve(job, placement, state)
            if not status.ok:
                _unreserve(done, job, placement, state)
                return status
            done.append(plugin)
        for permit in self.plugins.permit:
            status = permit.permit(job, placement, state)
            if status.code == Code.WAIT:
                if self._holds.hold(job, placement, status, state, was_held=held):
                    return status
                status = Status.unschedulable(f"permit timed out: {status.reason}",
                                              permit.name)
            if not status.ok:
                _unreserve(done, job, placement, state)
                return status
        for binder in self.plugins.bind:
            binder.bind(job, placement, state)
        take(state, placement)
        return Status()


def _unreserve(done: list[ReservePlugin], job: QueuedJob, placement: Placement,
               state: CycleState) -> None:
    """Undo the reservations made so far, in reverse order."""
    for undo in reversed(done):
        undo.unreserve(job, placement, state)
