"""Kueue-style preemption as a post-filter plugin: ``post-filter/kueue-preemption``.

When a job cannot be admitted (quota) or placed (GPUs), candidate victims are, per its
cluster queue's policies:

- **within-queue** (``within_cluster_queue``): running jobs of the same cluster queue with
  lower priority (``LowerPriority``), or also equal priority submitted later
  (``LowerOrNewerEqualPriority``);
- **reclaim** (``reclaim_within_cohort``), when the job would stay within its nominal
  quota: jobs of other queues of the cohort that *borrow* (use more than their nominal
  quota), of lower priority (``LowerPriority``) or any priority (``Any``);
- **borrow** (``borrow_within_cohort: LowerPriority``), when the job itself needs to
  borrow: lower-priority jobs (at most ``max_priority_threshold``) of borrowing queues.

With ``never_preempt_higher_priority`` (default) no job of higher priority than the
preemptor is ever a victim. Candidates are taken other queues first, then lowest priority,
then most recently started (least work lost), until the job both fits its quota and has a
gang placement; a queue stops being a reclaim target once it no longer borrows. Victims
that turn out unnecessary are spared (reprieve, in reverse order). The framework applies
the proposal; the simulator charges each victim the work lost since its last checkpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gputwin.cluster.ledger import Placement
from gputwin.scheduling.api import (
    CycleState,
    PluginArgs,
    PluginContext,
    PostFilterPlugin,
    PostFilterResult,
    QueuedJob,
    RunningJob,
)
from gputwin.scheduling.quota.admission import book_of
from gputwin.scheduling.quota.book import Admission, QuotaBook, Usage
from gputwin.scheduling.quota.model import ClusterQueueSpec

if TYPE_CHECKING:
    from gputwin.scheduling.hooks import SchedulerHandle

WITHIN, RECLAIM, BORROW = "within-queue", "reclaim", "borrow-within-cohort"


def _shift(scratch: np.ndarray, health: np.ndarray, placement: Placement, sign: int) -> None:
    for node, count in zip(placement.nodes, placement.gpus, strict=True):
        if health[node] == 0:
            scratch[node] += sign * count


class KueuePreemption(PostFilterPlugin):
    """See the module docstring."""

    name = "post-filter/kueue-preemption"

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self.book = book_of(self)

    def post_filter(self, fw: SchedulerHandle, job: QueuedJob,
                    state: CycleState) -> PostFilterResult | None:
        book = self.book
        cq = book.cluster_queue(job.spec)
        if cq is None or not fw.running:
            return None
        for flavor in cq.flavors:
            plan = self._plan(fw, job, state, cq, flavor)
            if plan:
                for victim, why in plan:
                    book.mark_victim(victim.job_id, why)
                kinds = sorted({why for _, why in plan})
                return PostFilterResult(
                    preempt=tuple(v for v, _ in plan),
                    reason=f"preempted by {job.job_id} of queue {cq.name} "
                           f"(priority {book.priority(job.spec)}; {', '.join(kinds)})")
        return None

    def candidates(self, fw: SchedulerHandle, job: QueuedJob, cq: ClusterQueueSpec,
                   flavor: str) -> list[tuple[RunningJob, Admission, str]]:
        """Running jobs this job may preempt on ``flavor``, in preemption order."""
        book = self.book
        prio = book.priority(job.spec)
        need = book.request_milli(job.spec)
        q = cq.quota(flavor)
        assert q is not None
        borrows = book.usage[cq.name][flavor] + need > q.nominal_milli
        pol = cq.preemption
        protect = book.model.never_preempt_higher_priority
        out: list[tuple[RunningJob, Admission, str]] = []
        for run in fw.running.values():
            adm = book.admitted.get(run.job_id)
            if adm is None or adm.flavor != flavor or (protect and adm.priority > prio):
                continue
            if adm.cluster_queue == cq.name:
                w = pol.within_cluster_queue
                newer_equal = (w == "LowerOrNewerEqualPriority" and adm.priority == prio
                               and adm.submit_s > job.spec.submit_time_s)
                if w != "Never" and (adm.priority < prio or newer_equal):
                    out.append((run, adm, WITHIN))
                continue
            other = book.model.cluster_queues[adm.cluster_queue]
            if cq.cohort is None or other.cohort != cq.cohort:
                continue
            if borrows:
                thr = pol.max_priority_threshold
                if pol.borrow_within_cohort == "LowerPriority" and adm.priority < prio and (
                        thr is None or adm.priority <= thr):
                    out.append((run, adm, BORROW))
            elif pol.reclaim_within_cohort == "Any" or (
                    pol.reclaim_within_cohort == "LowerPriority" and adm.priority < prio):
                out.append((run, adm, RECLAIM))
        out.sort(key=lambda c: (c[2] == WITHIN, c[1].priority, -c[1].start_s, c[1].job_id))
        return out

    def _plan(self, fw: SchedulerHandle, job: QueuedJob, state: CycleState, cq: ClusterQueueSpec,
              flavor: str) -> list[tuple[RunningJob, str]]:
        cands = self.candidates(fw, job, cq, flavor)
        if not cands:
            return []
        book = self.book
        usage = book.copy_usage()
        health = state.snapshot.health
        scratch = state.free.copy()
        chosen: list[tuple[RunningJob, Admission, str]] = []
        fits = False
        for run, adm, why in cands:
            if why != WITHIN and not _borrowing(book, usage, adm):
                continue  # that queue is back within its nominal quota
            usage[adm.cluster_queue][adm.flavor] -= adm.milli
            _shift(scratch, health, run.placement, +1)
            chosen.append((run, adm, why))
            if self._fits(fw, job, state, usage, scratch):
                fits = True
                break
        if not fits:
            return []
        for item in reversed(chosen[:-1]):  # reprieve
            run, adm, _ = item
            usage[adm.cluster_queue][adm.flavor] += adm.milli
            _shift(scratch, health, run.placement, -1)
            if self._fits(fw, job, state, usage, scratch):
                chosen.remove(item)
            else:
                usage[adm.cluster_queue][adm.flavor] -= adm.milli
                _shift(scratch, health, run.placement, +1)
        return [(run, why) for run, _, why in chosen]

    def _fits(self, fw: SchedulerHandle, job: QueuedJob, state: CycleState, usage: Usage,
              scratch: np.ndarray) -> bool:
        if int(scratch.sum()) < job.spec.num_gpus:
            return False
        with self.book.what_if(usage):
            return fw.try_place(job, state, scratch)[1] is not None


def _borrowing(book: QuotaBook, usage: Usage, adm: Admission) -> bool:
    q = book.model.cluster_queues[adm.cluster_queue].quota(adm.flavor)
    assert q is not None
    return usage[adm.cluster_queue][adm.flavor] > q.nominal_milli
