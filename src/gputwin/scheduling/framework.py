"""The scheduling framework: a queue of jobs (gangs) and plugins at extension points.

The simulator drives it through four calls (the :class:`~gputwin.scheduling.base.Scheduler`
protocol): :meth:`Framework.submit` on arrival (or re-queue after a preemption),
:meth:`Framework.schedule` once per instant with a fresh read-only snapshot,
:meth:`Framework.finished` when a job ends, and the read-only queue queries. A cycle never
touches the ledger: it returns a :class:`CycleResult` (preemptions, then starts) that is
valid against the snapshot, and the simulator applies it.

Cost: a static queue order (FIFO, priority) is kept sorted incrementally; a time-varying
one (multifactor) is re-sorted at most every ``refresh_period_s``; the expected-release
list used by backfill is a sorted list updated on start/finish.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.cluster.snapshot import ClusterSnapshot
from gputwin.scheduling.api import (
    BindPlugin,
    CycleResult,
    CycleState,
    Decision,
    FilterPlugin,
    PermitPlugin,
    PlacementPlugin,
    Plugin,
    PluginContext,
    PostFilterPlugin,
    Preemption,
    PreFilterPlugin,
    QueuedJob,
    QueueingPlugin,
    QueueSortPlugin,
    Rejection,
    ReservePlugin,
    RunningJob,
    ScorePlugin,
    is_share_request,
    request_shape,
)
from gputwin.scheduling.gpu_types import GpuTypeViews
from gputwin.scheduling.permit_holds import PermitHolds
from gputwin.scheduling.running import RunningSet
from gputwin.scheduling.scratch import ShareRoom, give_back, take
from gputwin.scheduling.status import Code, Status
from gputwin.scheduling.waiting import WaitingQueue
from gputwin.workload.job import JobSpec


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


class Framework:
    """A job-level scheduler assembled from plugins (see docs/scheduling.md).

    ``shortcuts`` (default on): the exact speed-ups (shape memo, arrivals-only backfill
    cycles, early stops of the backfill walks, ...). They never change a decision; tests
    turn them off to compute the reference schedule they are compared with.
    """

    def __init__(self, plugins: FrameworkPlugins, ctx: PluginContext, *,
                 profile: str = "custom", shortcuts: bool = True) -> None:
        self.plugins = plugins
        self.ctx = ctx
        self.profile = profile
        self._hooks = [p for p in plugins.all()
                       if type(p).on_start is not Plugin.on_start
                       or type(p).on_stop is not Plugin.on_stop
                       or type(p).on_migrate is not Plugin.on_migrate]
        self.waiting = WaitingQueue(plugins.queue_sort)
        self._holds = PermitHolds()  # jobs holding a placement after a permit WAIT
        #: Queueing walks may skip a job whose shape already failed with fewer GPUs in the
        #: cycle: true unless a post-filter (preemption, ...) or a pre-filter that looks at
        #: more than the shape could make the same shape succeed.
        #: exact speed-ups on; off = the plain reference walk
        self.shortcuts = shortcuts
        self.shape_memo = shortcuts and not plugins.post_filter and all(
            p.shape_only for p in plugins.pre_filter)
        self._share_room = ShareRoom(plugins.placement, ctx.gpu_type)
        self._types = GpuTypeViews(ctx)  # a mixed fleet: a gang runs on one GPU type
        self._seq = 0
        self.runs = RunningSet()
        #: views of ``runs`` read by plugins: running jobs, GPUs per tenant, and the
        #: expected releases, sorted (est_end_s, seq, job_id): backfill's time profile
        self.running, self.tenant_gpus, self.ends = (self.runs.jobs, self.runs.tenant_gpus,
                                                     self.runs.ends)
        qargs = plugins.queueing.args
        self._est_mode = str(getattr(qargs, "runtime_estimate", "oracle"))
        self._est_factor = float(getattr(qargs, "runtime_factor", 1.0))
        self._default_limit_s = float(getattr(qargs, "default_limit_s", math.inf))
        self.version = 0  # bumped when the running set changes (backfill caches)
        self.fragmentation_frac: float | None = None  # last cycle's sample
        self.blocked_by: str | None = None  # job blocking a strict queue (reasons)
        self.num_cycles = 0

    # -- the Scheduler protocol ----------------------------------------------------------------

    def submit(self, job: JobSpec, now_s: float, remaining_frac: float = 1.0) -> Rejection | None:
        """Queue ``job`` (``remaining_frac`` < 1: resumed after a preemption)."""
        total = self.ctx.layout.total_gpus
        if job.num_gpus > total:
            return Rejection(job, f"needs {job.num_gpus} GPUs, the cluster has {total}")
        est = self._estimate(job) * remaining_frac
        self._seq += 1
        qjob = QueuedJob(spec=job, seq=self._seq, enqueue_s=now_s, est_runtime_s=est,
                         remaining_frac=remaining_frac, shape=request_shape(job))
        self.waiting.add(qjob, lambda: self._dummy_state(now_s))
        return None

    def _estimate(self, job: JobSpec) -> float:
        """Expected run time: ``user_limit`` (the job's limit, else the default limit),
        ``predicted`` (the estimator × factor) or ``oracle`` (the estimator)."""
        mode = self._est_mode
        if mode == "user_limit":
            return job.runtime_limit_s if job.runtime_limit_s is not None else self._default_limit_s
        est = self.ctx.estimate_runtime(job)
        return est * self._est_factor if mode == "predicted" else est

    def schedule(self, now_s: float, snapshot: ClusterSnapshot) -> CycleResult:
        """One scheduling cycle against ``snapshot``."""
        self.num_cycles += 1
        state = self._state(now_s, snapshot)
        if self.waiting.jobs:
            if self._holds:
                self._holds.renew(self.waiting.jobs, self.plugins.reserve, state)
            self.plugins.queueing.walk(self, self.waiting.order(state), state)
        self.fragmentation_frac = self._fragmentation(state)
        return state.result

    def finished(self, job_id: str, now_s: float) -> None:
        """``job_id`` completed (or failed) at ``now_s``."""
        job = self.runs.remove(job_id)
        if job is None:
            return
        self.version += 1
        for plugin in self._hooks:
            plugin.on_stop(job, now_s, False)

    def relocated(self, job_id: str, placement: Placement, now_s: float) -> None:
        """``job_id`` runs on ``placement`` from now (same GPU count; a hot spare took a
        slow node's place). Plugins see it through ``on_migrate``."""
        job = self.running.get(job_id)
        if job is None:
            return
        old = RunningJob(job.spec, job.placement, job.start_s, job.est_end_s)
        job.placement = placement
        self.version += 1
        for plugin in self._hooks:
            plugin.on_migrate(old, job, now_s)

    def next_wakeup_s(self, now_s: float) -> float | None:
        """When the earliest permit wait ends (its permit is asked again then, and the hold
        expires if it still waits); ``None`` when no job is held. The simulator schedules
        a cycle then (``plugins.carbon_hooks.plugin_hooks``)."""
        return self._holds.next_deadline_s(self.waiting.jobs, now_s)

    def queued(self) -> list[JobSpec]:
        return [q.spec for q in self.waiting.jobs.values()]

    def num_queued(self) -> int:
        return len(self.waiting)

    def waiting_reason(self, job: JobSpec) -> str:
        q = self.waiting.jobs.get(job.job_id)
        if q is None:
            return ""
        if q.reason:
            return q.reason
        if self.blocked_by is not None and self.blocked_by in self.waiting.jobs:
            return f"waiting behind {self.blocked_by} (queue order)"
        return "waiting: not considered in the last cycle (backfill window / no room)"

    # -- services for queueing walkers and plugins --------------------------------------------

    def try_place(self, job: QueuedJob, state: CycleState,
                  free: np.ndarray | None = None) -> tuple[Status, Placement | None]:
        """pre-filter → filter → score → placement, against ``free`` (default the scratch)."""
        if job.hold is not None:
            return Status(), job.hold
        for plugin in self.plugins.pre_filter:
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
            for flt in self.plugins.filter:
                mask = flt.filter(job, state, on_type)
                if mask is not None:
                    on_type = np.where(mask, on_type, 0)
            scores = None
            if self.plugins.score:
                scores = np.zeros(len(on_type))
                for scorer, weight in self.plugins.score:
                    scores += weight * scorer.score(job, state, on_type)
            placement = self.plugins.placement.place(job, state, on_type, scores)
            if views:
                state.layout_view = None
            if placement is not None:
                break
        if placement is None:
            return Status.unschedulable(
                f"no gang placement for {need} GPUs ({free_total} free, "
                f"placement {self.plugins.placement.name})"), None
        return Status(), placement

    def start(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        """reserve → permit → bind; on success the start is recorded in ``state``."""
        held = job.hold is not None
        if held:
            give_back(state, placement)
            job.hold = None
        done: list[ReservePlugin] = []
        for plugin in self.plugins.reserve:
            status = plugin.reserve(job, placement, state)
            if not status.ok:
                for undo in reversed(done):
                    undo.unreserve(job, placement, state)
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
                for undo in reversed(done):
                    undo.unreserve(job, placement, state)
                return status
        for binder in self.plugins.bind:
            binder.bind(job, placement, state)
        take(state, placement)
        self._record_start(job, placement, state)
        return Status()

    def post_filter(self, job: QueuedJob, state: CycleState) -> bool:
        """Run post-filter plugins for an unplaceable job; apply the first proposal.
        Returns True if something was freed (the caller should retry the job)."""
        for plugin in self.plugins.post_filter:
            proposal = plugin.post_filter(self, job, state)
            if proposal is None or not (proposal.preempt or proposal.migrate):
                continue
            for victim in proposal.preempt:
                self.preempt(victim, state, proposal.reason or f"preempted by {job.job_id}")
            for moved, target in proposal.migrate:
                self.migrate(moved, target, state, proposal.reason or "defragmentation")
            return True
        return False

    def preempt(self, victim: RunningJob, state: CycleState, reason: str) -> bool:
        """Stop ``victim`` now (its GPUs are free for the rest of the cycle). A victim
        started earlier in this same cycle is not preempted but un-started: its start
        decision is dropped and it goes back to the queue (the simulator never saw it run).
        Returns True if a :class:`Preemption` was added to the cycle's result."""
        self.runs.remove(victim.job_id)
        self.version += 1
        give_back(state, victim.placement)
        for plugin in self._hooks:
            plugin.on_stop(victim, state.now_s, True)
        starts = state.result.starts
        for i in range(len(starts) - 1, -1, -1):
            if starts[i].job.job_id == victim.job_id:
                decision = starts.pop(i)
                self.submit(decision.job, state.now_s, decision.remaining_frac)
                queued = self.waiting.jobs[victim.job_id]
                queued.reason = reason
                return False
        state.result.preemptions.append(Preemption(victim.spec, reason))
        return True

    def migrate(self, job: RunningJob, target: Placement, state: CycleState,
                reason: str) -> None:
        """Move running ``job`` to ``target`` (checkpoint + restart; the simulator charges
        it). Plugins see the move through their ``on_migrate`` hook."""
        give_back(state, job.placement)
        take(state, target)
        old = RunningJob(job.spec, job.placement, job.start_s, job.est_end_s)
        job.placement = target
        state.result.preemptions.append(Preemption(job.spec, reason, migrate_to=target))
        self.version += 1
        for plugin in self._hooks:
            plugin.on_migrate(old, job, state.now_s)

    def queued_jobs(self) -> list[QueuedJob]:
        """The queue in submission order (read-only use)."""
        return list(self.waiting.jobs.values())

    @property
    def last_seq(self) -> int:
        """Sequence number of the latest submission (or start)."""
        return self._seq

    @property
    def order_epoch(self) -> float:
        """When the static queue order was last re-keyed (changes on a refresh)."""
        return self.waiting.sorted_at

    @property
    def layout(self) -> ClusterLayout:
        return self.ctx.layout

    @property
    def keyed_order(self) -> bool:
        """Whether a walk may read the queue order ahead (shortcuts on): a key-sorted
        queue that the walk cannot reorder (no custom order such as DRF's, and no
        post-filter that could send a job started in the cycle back into the queue)."""
        return self.shortcuts and not self.waiting.custom_order and not self.plugins.post_filter

    @property
    def static_walk(self) -> bool:
        """Whether a walk's outcome depends only on the queue, the cluster and the
        running set (not on the clock): shortcuts on, the shape memo allowed, a
        key-sorted queue, no permit plugin and no held job."""
        return (self.shortcuts and self.shape_memo and not self.waiting.custom_order
                and not self.plugins.permit and not self._holds)

    def order_due(self, now_s: float) -> bool:
        """Whether the next walk at ``now_s`` re-keys the queue (time-varying keys)."""
        return self.waiting.order_due(now_s)

    def queued_at(self, i: int) -> QueuedJob:
        """The ``i``-th job of the current (key-sorted) order."""
        return self.waiting.at(i)

    def queue_position(self, q: QueuedJob) -> int:
        """Index of queued job ``q`` in the current (key-sorted) order."""
        return self.waiting.position(q)

    def queued_job(self, job_id: str) -> QueuedJob | None:
        return self.waiting.jobs.get(job_id)

    def queued_after(self, seq: int) -> list[QueuedJob]:
        """Waiting jobs submitted after sequence number ``seq``, in submission order."""
        return self.waiting.after(seq)

    def smallest_request(self) -> int | None:
        """Fewest GPUs any waiting job asks for."""
        return self.waiting.smallest_request()

    @property
    def num_shaped_waiting(self) -> int:
        """Waiting jobs whose request is more than plain whole GPUs (see ``Shape``)."""
        return self.waiting.num_shaped

    @property
    def num_share_waiting(self) -> int:
        """Waiting jobs that ask for part of a GPU (fractional or MIG)."""
        return self.waiting.num_share

    # -- internals ---------------------------------------------------------------------------

    def _state(self, now_s: float, snapshot: ClusterSnapshot) -> CycleState:
        free = snapshot.free.copy()
        return CycleState(now_s=now_s, snapshot=snapshot, free=free,
                          free_total=snapshot.free_total, running=self.running,
                          tenant_gpus=self.tenant_gpus, result=CycleResult())

    def _dummy_state(self, now_s: float) -> CycleState:
        return CycleState(now_s=now_s, snapshot=None, free=np.zeros(0, dtype=np.int64),  # type: ignore[arg-type]
                          free_total=0, running=self.running, tenant_gpus=self.tenant_gpus,
                          result=CycleResult())

    def _record_start(self, job: QueuedJob, placement: Placement, state: CycleState) -> None:
        spec = job.spec
        self.waiting.discard(spec.job_id)
        now = state.now_s
        run = RunningJob(spec, placement, now, now + job.est_runtime_s)
        self._seq += 1
        self.runs.add(run, self._seq)
        self.version += 1
        state.result.starts.append(Decision(spec, placement, job.remaining_frac))
        for plugin in self._hooks:
            plugin.on_start(run, now)

    def _fragmentation(self, state: CycleState) -> float | None:
        """Share of free GPUs no waiting job can use (``None``: nothing free or waiting)."""
        smallest = self.smallest_request()
        if smallest is None or state.free_total <= 0:
            return None
        return stranded_frac(state.free, smallest, self.ctx.layout.gpus_per_node)

    def remove_queued(self, job_ids: Sequence[str]) -> None:
        """Drop jobs from the queue (rejections decided by plugins)."""
        for job_id in job_ids:
            self.waiting.discard(job_id)


def stranded_frac(free: np.ndarray, smallest: int, gpus_per_node: int) -> float:
    """Fraction of ``free`` GPUs that a job of ``smallest`` GPUs cannot use: on a node with
    fewer free GPUs than the request (single-node jobs), or on a partly used node when every
    waiting job spans whole nodes."""
    total = int(free.sum())
    if total <= 0:
        return 0.0
    if smallest <= gpus_per_node:
        stranded = int(free[free < smallest].sum())
    else:
        stranded = int(free[free < gpus_per_node].sum())
    return stranded / total
