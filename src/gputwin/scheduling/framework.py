"""The scheduling framework: a queue of jobs (gangs) and plugins at extension points.

The simulator drives it through four calls (the :class:`~gputwin.scheduling.base.Scheduler`
protocol): :meth:`Framework.submit` on arrival (or re-queue after a preemption),
:meth:`Framework.schedule` once per instant with a fresh read-only snapshot,
:meth:`Framework.finished` when a job ends, and the read-only queue queries. A cycle never
touches the ledger: it returns a :class:`CycleResult` (preemptions, then starts) that is
valid against the snapshot, and the simulator applies it.

What it keeps is split by side, each part in its own module: the waiting queue
(:class:`~gputwin.scheduling.waiting.WaitingQueue`, read by walks through
:class:`~gputwin.scheduling.queue_view.QueueView`, ``fw.queue``), the per-job plugin chains
(:class:`~gputwin.scheduling.plugin_chain.PluginChain`: place, admit), the running side
(:class:`~gputwin.scheduling.lifecycle.Lifecycle`: running set, version, lifecycle hooks)
and the permit holds. The framework orders the calls and records the cycle's result.

Cost: a static queue order (FIFO, priority) is kept sorted incrementally; a time-varying
one (multifactor) is re-sorted at most every ``refresh_period_s``; the expected-release
list used by backfill is a sorted list updated on start/finish.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.cluster.snapshot import ClusterSnapshot
from gputwin.scheduling.api import (
    CycleResult,
    CycleState,
    Decision,
    PluginContext,
    Preemption,
    QueuedJob,
    Rejection,
    RunningJob,
    request_shape,
)
from gputwin.scheduling.lifecycle import Lifecycle
from gputwin.scheduling.permit_holds import PermitHolds
from gputwin.scheduling.plugin_chain import FrameworkPlugins, PluginChain
from gputwin.scheduling.queue_view import QueueView
from gputwin.scheduling.scratch import give_back, take
from gputwin.scheduling.status import Status
from gputwin.scheduling.waiting import WaitingQueue
from gputwin.workload.job import JobSpec


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
        self._waiting = WaitingQueue(plugins.queue_sort)
        self._holds = PermitHolds()  # jobs holding a placement after a permit WAIT
        self._chain = PluginChain(plugins, ctx, self._holds)
        #: exact speed-ups on; off = the plain reference walk
        self.shortcuts = shortcuts
        #: Queueing walks may skip a job whose shape already failed with fewer GPUs in the
        #: cycle: true unless a post-filter (preemption, ...) or a pre-filter that looks at
        #: more than the shape could make the same shape succeed.
        self.shape_memo = shortcuts and not plugins.post_filter and all(
            p.shape_only for p in plugins.pre_filter)
        keyed = shortcuts and not self._waiting.custom_order
        #: read-only queue queries for queueing walks and backfill (its walk flags are
        #: fixed here from the profile, like ``shape_memo``)
        self.queue = QueueView(self._waiting, self._holds,
                               keyed=keyed and not plugins.post_filter,
                               static=keyed and self.shape_memo and not plugins.permit)
        self._seq = 0
        self._life = Lifecycle(plugins.all())
        self.runs = runs = self._life.runs
        #: views of the running set read by plugins: running jobs, GPUs per tenant, and the
        #: expected releases, sorted (est_end_s, seq, job_id): backfill's time profile
        self.running, self.tenant_gpus, self.ends = runs.jobs, runs.tenant_gpus, runs.ends
        qargs = plugins.queueing.args
        self._est_mode = str(getattr(qargs, "runtime_estimate", "oracle"))
        self._est_factor = float(getattr(qargs, "runtime_factor", 1.0))
        self._default_limit_s = float(getattr(qargs, "default_limit_s", math.inf))
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
        self._waiting.add(qjob, lambda: self._dummy_state(now_s))
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
        waiting = self._waiting
        if waiting.jobs:
            if self._holds:
                self._holds.renew(waiting.jobs, self.plugins.reserve, state)
            self.plugins.queueing.walk(self, waiting.order(state), state)
        self.fragmentation_frac = self._fragmentation(state)
        return state.result

    def finished(self, job_id: str, now_s: float) -> None:
        """``job_id`` completed (or failed) at ``now_s``."""
        self._life.finish(job_id, now_s)

    def relocated(self, job_id: str, placement: Placement, now_s: float) -> None:
        """``job_id`` runs on ``placement`` from now (same GPU count; a hot spare took a
        slow node's place). Plugins see it through ``on_migrate``."""
        job = self.running.get(job_id)
        if job is not None:
            self._life.move(job, placement, now_s)

    def next_wakeup_s(self, now_s: float) -> float | None:
        """When the earliest permit wait ends (its permit is asked again then, and the hold
        expires if it still waits); ``None`` when no job is held. The simulator schedules
        a cycle then (``plugins.carbon_hooks.plugin_hooks``)."""
        return self._holds.next_deadline_s(self._waiting.jobs, now_s)

    def queued(self) -> list[JobSpec]:
        return [q.spec for q in self._waiting.jobs.values()]

    def num_queued(self) -> int:
        return len(self._waiting)

    def waiting_reason(self, job: JobSpec) -> str:
        jobs = self._waiting.jobs
        q = jobs.get(job.job_id)
        if q is None:
            return ""
        if q.reason:
            return q.reason
        if self.blocked_by is not None and self.blocked_by in jobs:
            return f"waiting behind {self.blocked_by} (queue order)"
        return "waiting: not considered in the last cycle (backfill window / no room)"

    # -- services for queueing walkers and plugins --------------------------------------------

    def try_place(self, job: QueuedJob, state: CycleState,
                  free: np.ndarray | None = None) -> tuple[Status, Placement | None]:
        """pre-filter → filter → score → placement, against ``free`` (default the scratch);
        a dry run (see :meth:`PluginChain.place`)."""
        return self._chain.place(job, state, free)

    def start(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        """reserve → permit → bind; on success the start is recorded in ``state``."""
        status = self._chain.admit(job, placement, state)
        if status.ok:
            self._record_start(job, placement, state)
        return status

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
        give_back(state, victim.placement)
        self._life.preempt(victim, state.now_s)
        starts = state.result.starts
        for i in range(len(starts) - 1, -1, -1):
            if starts[i].job.job_id == victim.job_id:
                decision = starts.pop(i)
                self.submit(decision.job, state.now_s, decision.remaining_frac)
                self._waiting.jobs[victim.job_id].reason = reason
                return False
        state.result.preemptions.append(Preemption(victim.spec, reason))
        return True

    def migrate(self, job: RunningJob, target: Placement, state: CycleState,
                reason: str) -> None:
        """Move running ``job`` to ``target`` (checkpoint + restart; the simulator charges
        it). Plugins see the move through their ``on_migrate`` hook."""
        give_back(state, job.placement)
        take(state, target)
        state.result.preemptions.append(Preemption(job.spec, reason, migrate_to=target))
        self._life.move(job, target, state.now_s)

    def remove_queued(self, job_ids: Sequence[str]) -> None:
        """Drop jobs from the queue (rejections decided by plugins)."""
        for job_id in job_ids:
            self._waiting.discard(job_id)

    @property
    def version(self) -> int:
        """Bumped whenever the running set changes (backfill caches key on it)."""
        return self._life.version

    @property
    def last_seq(self) -> int:
        """Sequence number of the latest submission (or start)."""
        return self._seq

    @property
    def layout(self) -> ClusterLayout:
        return self.ctx.layout

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
        self._waiting.discard(spec.job_id)
        now = state.now_s
        run = RunningJob(spec, placement, now, now + job.est_runtime_s)
        self._seq += 1
        state.result.starts.append(Decision(spec, placement, job.remaining_frac))
        self._life.start(run, self._seq, now)

    def _fragmentation(self, state: CycleState) -> float | None:
        """Share of free GPUs no waiting job can use (``None``: nothing free or waiting)."""
        smallest = self._waiting.smallest_request()
        if smallest is None or state.free_total <= 0:
            return None
        return stranded_frac(state.free, smallest, self.ctx.layout.gpus_per_node)


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
