"""The quota book: who holds how much quota of which cluster queue, and what fits.

Admission arithmetic (Kueue's, with lending limits), per cohort and flavour, usage ``u``,
nominal ``N``, lendable part ``L' = min(lendingLimit, N)``, guaranteed part ``G = N - L'``:

- the cohort's *pool* is ``Σ L'`` over its members; a queue draws on the pool once it uses
  more than its guaranteed part, so the pool in use is ``Σ max(0, u - G)``;
- queue ``c`` may still take ``avail = max(0, G_c - u_c) + (pool - pool in use)``, and
  never more than ``N_c + borrowingLimit_c - u_c``;
- a request of ``n`` *fits* when ``n <= avail`` and ``u_c + n <= N_c``; it *borrows* when it
  fits only beyond ``N_c``; otherwise it does not fit (wait, or preempt).

A queue without a cohort has ``avail = N - u``. Hence no queue uses more than
``N + borrowingLimit``, the members of a cohort never use more than ``Σ N`` together, and
the others never use more of a queue's nominal quota than its lending limit.

Accounting (exact: usage only changes at starts and stops): per cluster queue, GPU·s used,
borrowed (``∫ max(0, u - N)``) and lent. Lent GPU·s: at each instant the cohort's borrowed
total is attributed to the lenders in proportion to their idle lendable quota
``max(0, min(L', N - u))`` (which, summed, always covers it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum

from gputwin.scheduling.quota.model import MILLI, ClusterQueueSpec, TenancyModel
from gputwin.workload.job import JobSpec

Usage = dict[str, dict[str, int]]  # cluster queue → flavour → milli-GPU in use


class Mode(IntEnum):
    NO_FIT = 0
    BORROW = 1
    FIT = 2


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of a flavour assignment: ``mode`` for ``flavor`` (the first fitting one, or
    the first flavour when none fits) and a human ``reason``."""

    mode: Mode
    cluster_queue: str
    flavor: str
    need_milli: int
    within_milli: int  # free within nominal (cohort permitting)
    borrowable_milli: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Admission:
    """Quota held by one running job."""

    job_id: str
    cluster_queue: str
    flavor: str
    milli: int
    priority: int
    start_s: float
    submit_s: float


@dataclass(slots=True)
class QueueStats:
    """Per cluster queue counters and time integrals (milli-GPU·s)."""

    used_milli_s: float = 0.0
    borrowed_milli_s: float = 0.0
    lent_milli_s: float = 0.0
    peak_milli: int = 0
    peak_borrowed_milli: int = 0
    admissions: int = 0
    preemptions: dict[str, int] = field(default_factory=dict)  # reason → count


def gpus(milli: int | float) -> str:
    """``16000`` → ``"16"``, ``500`` → ``"0.5"`` (messages)."""
    return f"{milli / MILLI:g}"


class QuotaBook:
    """Mutable quota state of one run (see the module docstring). Not thread-safe."""

    def __init__(self, model: TenancyModel) -> None:
        self.model = model.validate()
        self.usage: Usage = {name: dict.fromkeys(cq.flavors, 0)
                             for name, cq in model.cluster_queues.items()}
        self.admitted: dict[str, Admission] = {}
        self.job_queue: dict[str, str] = {}  # every job seen → its cluster queue
        self.stats = {name: QueueStats() for name in model.cluster_queues}
        self.timeline: list[tuple[float, dict[str, int]]] = []  # (t, cq → milli) at changes
        self._assigned: dict[str, str] = {}  # job → flavour chosen by the last admission check
        self._override: Usage | None = None
        self._victims: dict[str, str] = {}  # job → preemption reason, until it stops
        self._t = 0.0
        self._members = {name: model.cohort_members(cq.cohort)
                         for name, cq in model.cluster_queues.items()}

    # -- resolution --------------------------------------------------------------------------

    def local_queue_name(self, job: JobSpec) -> str:
        """The job's local queue: ``JobSpec.queue``, else its tenant."""
        return job.queue or job.tenant

    def cluster_queue(self, job: JobSpec) -> ClusterQueueSpec | None:
        """The job's cluster queue (``None``: its local queue does not exist)."""
        m = self.model
        lq = m.local_queues.get(self.local_queue_name(job))
        if lq is None and m.default_local_queue is not None:
            lq = m.local_queues[m.default_local_queue]
        if lq is None:
            return None
        self.job_queue[job.job_id] = lq.cluster_queue
        return m.cluster_queues[lq.cluster_queue]

    def priority(self, job: JobSpec) -> int:
        """Priority class value (the local queue's class, else the default class), else
        ``JobSpec.priority``."""
        m = self.model
        lq = m.local_queues.get(self.local_queue_name(job))
        if lq is None and m.default_local_queue is not None:
            lq = m.local_queues[m.default_local_queue]
        name = (lq.priority_class if lq is not None else None) or m.default_priority_class
        return m.priority_classes[name] if name is not None else job.priority

    @staticmethod
    def request_milli(job: JobSpec) -> int:
        return job.num_gpus * job.gpu_milli

    # -- arithmetic --------------------------------------------------------------------------

    def headroom(self, cq: ClusterQueueSpec, flavor: str, usage: Usage | None = None
                 ) -> tuple[int, int]:
        """(free within nominal, borrowable) milli-GPU for ``cq`` on ``flavor``."""
        usage = usage if usage is not None else self.current_usage
        q = cq.quota(flavor)
        if q is None:
            return 0, 0
        use = usage[cq.name][flavor]
        if cq.cohort is None:
            return max(0, q.nominal_milli - use), 0
        pool = pool_used = 0
        for member in self._members[cq.name]:
            qm = member.quota(flavor)
            if qm is None:
                continue
            pool += qm.lendable_milli
            pool_used += max(0, usage[member.name][flavor] - qm.guaranteed_milli)
        avail = max(0, q.guaranteed_milli - use) + max(0, pool - pool_used)
        within = min(max(0, q.nominal_milli - use), avail)
        borrow = avail - within
        if q.borrowing_limit_milli is not None:
            borrow = min(borrow, max(0, q.nominal_milli + q.borrowing_limit_milli - use - within))
        return within, borrow

    def assign(self, job: JobSpec, cq: ClusterQueueSpec, usage: Usage | None = None,
               gpu_types: Sequence[str] | None = None) -> Verdict:
        """First flavour of ``cq`` (in order) where ``job`` fits or can borrow (Kueue's
        default fungibility), among the flavours of ``gpu_types`` when given (a mixed
        fleet: the types the job can run on); remembers it for :meth:`admit`."""
        need = self.request_milli(job)
        first: Verdict | None = None
        for flavor in cq.flavors:
            if gpu_types is not None and self.model.flavors.get(flavor) not in gpu_types:
                continue  # Kueue skips flavours the workload's node affinity excludes
            within, borrow = self.headroom(cq, flavor, usage)
            mode = Mode.FIT if need <= within else (
                Mode.BORROW if need <= within + borrow else Mode.NO_FIT)
            verdict = Verdict(mode, cq.name, flavor, need, within, borrow)
            if mode != Mode.NO_FIT:
                self._assigned[job.job_id] = flavor
                return verdict
            first = first or verdict
        if first is None:
            return Verdict(Mode.NO_FIT, cq.name, cq.flavors[0], need, 0, 0,
                           f"queue {cq.name}: no flavour of a GPU type the job can run on "
                           f"({job.gpu_type})")
        return Verdict(first.mode, cq.name, first.flavor, need, first.within_milli,
                       first.borrowable_milli,
                       f"queue {cq.name}: needs {gpus(need)} GPUs of {first.flavor}, "
                       f"{gpus(first.within_milli)} free within nominal, "
                       f"{gpus(first.borrowable_milli)} borrowable")

    def ceiling_milli(self, cq: ClusterQueueSpec, flavor: str) -> int:
        """Most ``cq`` could ever hold of ``flavor`` (an empty cohort)."""
        q = cq.quota(flavor)
        if q is None:
            return 0
        if cq.cohort is None:
            return q.nominal_milli
        others = 0
        for member in self._members[cq.name]:
            qm = member.quota(flavor)
            if member.name != cq.name and qm is not None:
                others += qm.lendable_milli
        top = q.nominal_milli + others
        if q.borrowing_limit_milli is not None:
            top = min(top, q.nominal_milli + q.borrowing_limit_milli)
        return top

    @property
    def current_usage(self) -> Usage:
        return self._override if self._override is not None else self.usage

    @contextmanager
    def what_if(self, usage: Usage) -> Iterator[None]:
        """Answer admission checks against ``usage`` (preemption planning)."""
        saved = self._override
        self._override = usage
        try:
            yield
        finally:
            self._override = saved

    def copy_usage(self) -> Usage:
        return {cq: dict(per) for cq, per in self.usage.items()}

    # -- lifecycle ---------------------------------------------------------------------------

    def admit(self, job: JobSpec, now_s: float) -> Admission:
        """Charge ``job``'s request to its cluster queue (the flavour of the last check)."""
        cq = self.cluster_queue(job)
        assert cq is not None, f"job {job.job_id} has no cluster queue"
        flavor = self._assigned.pop(job.job_id, cq.flavors[0])
        self.advance(now_s)
        adm = Admission(job.job_id, cq.name, flavor, self.request_milli(job),
                        self.priority(job), now_s, job.submit_time_s)
        self.admitted[job.job_id] = adm
        self.usage[cq.name][flavor] += adm.milli
        st = self.stats[cq.name]
        st.admissions += 1
        self._after_change(now_s)
        return adm

    def release(self, job_id: str, now_s: float, preempted: bool) -> None:
        """Return ``job_id``'s quota (finished, or preempted: counted by reason)."""
        adm = self.admitted.pop(job_id, None)
        if adm is None:
            return
        self.advance(now_s)
        self.usage[adm.cluster_queue][adm.flavor] -= adm.milli
        reason = self._victims.pop(job_id, "other")
        if preempted:
            counts = self.stats[adm.cluster_queue].preemptions
            counts[reason] = counts.get(reason, 0) + 1
        self._after_change(now_s)

    def mark_victim(self, job_id: str, reason: str) -> None:
        """Record why ``job_id`` is about to be preempted (``within-queue``, ``reclaim``...)."""
        self._victims[job_id] = reason

    # -- accounting --------------------------------------------------------------------------

    def advance(self, now_s: float) -> None:
        """Integrate used/borrowed/lent GPU·s from the last change up to ``now_s``."""
        dt = now_s - self._t
        if dt <= 0:
            return
        for name, lent in self._lent().items():
            self.stats[name].lent_milli_s += lent * dt
        for name, cq in self.model.cluster_queues.items():
            st = self.stats[name]
            for flavor, q in cq.quotas:
                use = self.usage[name][flavor]
                st.used_milli_s += use * dt
                st.borrowed_milli_s += max(0, use - q.nominal_milli) * dt
        self._t = now_s

    def _lent(self) -> dict[str, float]:
        """Milli-GPU each queue lends right now (see the module docstring)."""
        out: dict[str, float] = {}
        done: set[tuple[str, str]] = set()
        for name, cq in self.model.cluster_queues.items():
            if cq.cohort is None:
                continue
            for flavor in cq.flavors:
                if (cq.cohort, flavor) in done:
                    continue
                done.add((cq.cohort, flavor))
                borrowed = 0
                idle: dict[str, int] = {}
                for m in self._members[name]:
                    q = m.quota(flavor)
                    if q is None:
                        continue
                    use = self.usage[m.name][flavor]
                    borrowed += max(0, use - q.nominal_milli)
                    idle[m.name] = max(0, min(q.lendable_milli, q.nominal_milli - use))
                total_idle = sum(idle.values())
                if borrowed and total_idle:
                    for lender, amount in idle.items():
                        out[lender] = out.get(lender, 0.0) + borrowed * amount / total_idle
        return out

    def lent_now(self) -> dict[str, float]:
        """Milli-GPU lent per queue at this instant (tests, reports)."""
        return self._lent()

    def _after_change(self, now_s: float) -> None:
        totals = {name: sum(per.values()) for name, per in self.usage.items()}
        for name, cq in self.model.cluster_queues.items():
            st = self.stats[name]
            st.peak_milli = max(st.peak_milli, totals[name])
            over = sum(max(0, self.usage[name][f] - q.nominal_milli) for f, q in cq.quotas)
            st.peak_borrowed_milli = max(st.peak_borrowed_milli, over)
        if self.timeline and self.timeline[-1][0] == now_s:
            self.timeline[-1] = (now_s, totals)
        else:
            self.timeline.append((now_s, totals))
