"""Kueue-style admission as framework plugins: queue order, per-queue walk, quota check.

- ``queue-sort/kueue``: priority (class value) first, then submit order.
- ``queueing/kueue``: per cluster queue ``StrictFIFO`` (a head that cannot be admitted
  blocks the rest of *its* queue only) or ``BestEffortFIFO`` (skip it). Jobs that fit
  without borrowing go first in each cycle, then those that need to borrow (Kueue
  considers non-borrowing workloads first).
- ``pre-filter/kueue-quota``: admits a job when its cluster queue has room (see
  :mod:`~gputwin.scheduling.quota.book`), otherwise ``UNSCHEDULABLE`` with the reason
  (``queue team-a: needs 16 GPUs of h100, 8 free within nominal, 0 borrowable``); a job
  whose local queue does not exist, or that no queue could ever hold, is rejected. Its
  start/stop hooks keep the quota book current (the only plugin that writes it).

All plugins read the shared :class:`QuotaBook` from a :class:`TenancyContext` (the
composition root builds it from the scenario's ``tenancy:`` section).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gputwin.errors import InputError
from gputwin.scheduling.api import (
    CycleState,
    Plugin,
    PluginArgs,
    PluginContext,
    PreFilterPlugin,
    QueuedJob,
    QueueingPlugin,
    QueueSortPlugin,
    RunningJob,
)
from gputwin.scheduling.plugins.queueing import attempt
from gputwin.scheduling.quota.book import Mode, QuotaBook, gpus
from gputwin.scheduling.status import Code, Status

if TYPE_CHECKING:
    from gputwin.scheduling.framework import Framework


@dataclass(frozen=True, slots=True)
class TenancyContext(PluginContext):
    """A plugin context that carries the run's quota book."""

    quota: QuotaBook | None = None


def book_of(plugin: Plugin) -> QuotaBook:
    """The quota book a kueue plugin works on; raises :class:`InputError` without one."""
    ctx = plugin.ctx
    if not isinstance(ctx, TenancyContext) or ctx.quota is None:
        raise InputError(f"plugin {plugin.name!r} needs a `tenancy:` section in the scenario",
                         where="scheduler.plugins")
    return ctx.quota


class KueueSort(QueueSortPlugin):
    """Higher priority (class value) first, then submit order."""

    name = "queue-sort/kueue"

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self.book = book_of(self)

    def key(self, job: QueuedJob, state: CycleState) -> Any:
        return (-self.book.priority(job.spec), job.spec.submit_time_s, job.seq)


class KueueQueueing(QueueingPlugin):
    """Per-cluster-queue StrictFIFO / BestEffortFIFO (see the module docstring)."""

    name = "queueing/kueue"

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self.book = book_of(self)

    def walk(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        book = self.book
        blocked: dict[str, str] = {}  # strict cluster queue → the head that blocks it
        held: set[str] = set()  # strict queues whose head was deferred to the borrow pass
        deferred: list[QueuedJob] = []
        for job in order:
            cq = book.cluster_queue(job.spec)
            if cq is None:
                attempt(fw, job, state)  # the pre-filter rejects it
                continue
            strict = cq.queueing_strategy == "StrictFIFO"
            if cq.name in blocked:
                job.reason = f"queue {cq.name}: waiting behind {blocked[cq.name]} (StrictFIFO)"
                continue
            use = book.usage[cq.name]
            needs_borrow = all(use[f] + book.request_milli(job.spec) > q.nominal_milli
                               for f, q in cq.quotas)
            if cq.name in held or needs_borrow:
                deferred.append(job)
                if strict:
                    held.add(cq.name)
                continue
            self._try(fw, job, state, strict, cq.name, blocked)
        for job in deferred:
            cq = book.cluster_queue(job.spec)
            assert cq is not None
            if cq.name in blocked:
                job.reason = f"queue {cq.name}: waiting behind {blocked[cq.name]} (StrictFIFO)"
                continue
            self._try(fw, job, state, cq.queueing_strategy == "StrictFIFO", cq.name, blocked)

    @staticmethod
    def _try(fw: Framework, job: QueuedJob, state: CycleState, strict: bool, cq: str,
             blocked: dict[str, str]) -> None:
        status = attempt(fw, job, state)
        if strict and status.code in (Code.UNSCHEDULABLE, Code.WAIT):
            blocked[cq] = job.job_id


class KueueQuota(PreFilterPlugin):
    """Quota admission (see the module docstring); owns the book's start/stop updates."""

    name = "pre-filter/kueue-quota"

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self.book = book_of(self)

    def pre_filter(self, job: QueuedJob, state: CycleState) -> Status:
        book = self.book
        spec = job.spec
        cq = book.cluster_queue(spec)
        if cq is None:
            return Status.reject(f"local queue {book.local_queue_name(spec)!r} does not exist",
                                 self.name)
        need = book.request_milli(spec)
        ceiling = max(book.ceiling_milli(cq, f) for f in cq.flavors)
        if need > ceiling:
            return Status.reject(f"queue {cq.name}: needs {gpus(need)} GPUs, more than it can "
                                 f"ever hold ({gpus(ceiling)} incl. borrowing)", self.name)
        mixed = bool(self.ctx.node_types)  # a mixed fleet: flavours of the job's types only
        verdict = book.assign(spec, cq, gpu_types=spec.gpu_type.split("|")
                              if mixed and spec.gpu_type else None)
        if verdict.mode == Mode.NO_FIT:
            return Status.unschedulable(verdict.reason, self.name)
        if mixed:  # the flavour's GPU type only
            job.gpu_type = book.model.flavors[verdict.flavor]
        return Status()

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self.book.admit(job.spec, now_s)

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        self.book.release(job.job_id, now_s, preempted)

    def on_migrate(self, old: RunningJob, new: RunningJob, now_s: float) -> None:
        """A move keeps the job's quota (same request): no release, no new admission."""
