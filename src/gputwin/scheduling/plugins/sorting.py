"""Queue-sort plugins: FIFO, strict priority, Slurm multifactor, DRF across tenants."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any

from pydantic import Field

from gputwin.quantities import ShareWeight
from gputwin.scheduling.api import (
    CycleState,
    PluginArgs,
    PluginContext,
    QueuedJob,
    QueueSortPlugin,
    RunningJob,
)


class FifoSort(QueueSortPlugin):
    """Submit order (a preempted job keeps its original submit time: it goes back in front)."""

    name = "queue-sort/fifo"

    def key(self, job: QueuedJob, state: CycleState) -> Any:
        return (job.spec.submit_time_s, job.seq)


class PrioritySort(QueueSortPlugin):
    """Strict priority: larger ``JobSpec.priority`` first, FIFO among equals."""

    name = "queue-sort/priority"

    def key(self, job: QueuedJob, state: CycleState) -> Any:
        return (-job.spec.priority, job.spec.submit_time_s, job.seq)


class MultifactorArgs(PluginArgs):
    """Slurm's multifactor priority (``PriorityWeight*``; factors are in [0, 1])."""

    weight_age: float = Field(default=1000.0, ge=0)
    weight_fairshare: float = Field(default=10000.0, ge=0)
    weight_job_size: float = Field(default=1000.0, ge=0)
    weight_qos: float = Field(default=0.0, ge=0)
    max_age_s: float = Field(default=7 * 86400.0, gt=0, description="PriorityMaxAge")
    half_life_s: float = Field(default=7 * 86400.0, gt=0, description="PriorityDecayHalfLife")
    recalc_period_s: float = Field(default=300.0, gt=0, description="PriorityCalcPeriod")
    favor_small: bool = False
    tenant_shares: dict[str, ShareWeight] = Field(default_factory=dict)
    default_share: float = Field(default=1.0, gt=0)
    qos_priority: dict[str, float] = Field(default_factory=dict)


class MultifactorSort(QueueSortPlugin):
    """priority = w_age·age + w_fs·fair-share + w_size·size + w_qos·qos + job.priority.

    age = min(wait / max_age, 1); size = GPUs / cluster GPUs (``favor_small``: 1 − that);
    fair-share = 2^(−U/S) with U the tenant's share of decayed usage (GPU·s, half-life
    ``half_life_s``) and S its normalised share; qos = ``qos_priority[job.qos]``. Keys are
    recomputed every ``recalc_period_s`` (ties: submit order).
    """

    name = "queue-sort/multifactor"
    Args = MultifactorArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, MultifactorArgs)
        self.a = args
        self.refresh_period_s = args.recalc_period_s
        self.usage: dict[str, float] = {}
        self._usage_at = 0.0
        self._alloc: dict[str, int] = {}
        self._seen: set[str] = set()  # tenants met so far (normalise shares over them)
        #: fair-share factors at ``_usage_at`` for the tenants in ``_seen`` (a re-key of
        #: the queue asks once per job; the factor changes only with time or a new tenant)
        self._factors: dict[str, float] = {}

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self._decay(now_s)
        t = job.spec.tenant
        self._alloc[t] = self._alloc.get(t, 0) + job.placement.num_gpus

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        self._decay(now_s)
        t = job.spec.tenant
        self._alloc[t] -= job.placement.num_gpus

    def _decay(self, now_s: float) -> None:
        """Bring usage to ``now_s``: decay, then add GPU·s of the allocation held since."""
        dt = now_s - self._usage_at
        if dt <= 0:
            return
        factor = 0.5 ** (dt / self.a.half_life_s)
        for t in set(self.usage) | set(self._alloc):
            self.usage[t] = self.usage.get(t, 0.0) * factor + self._alloc.get(t, 0) * dt
        self._usage_at = now_s
        self._factors.clear()

    def fairshare(self, tenant: str, now_s: float) -> float:
        self._decay(now_s)
        if tenant in self._seen:
            cached = self._factors.get(tenant)
            if cached is not None:
                return cached
        else:
            self._factors.clear()  # one more tenant: every normalised share changes
        value = self._fairshare(tenant)
        self._factors[tenant] = value
        return value

    def _fairshare(self, tenant: str) -> float:
        total_usage = sum(self.usage.values())
        shares = self.a.tenant_shares
        share = shares.get(tenant, self.a.default_share)
        self._seen.add(tenant)
        tenants = set(shares) | set(self.usage) | self._seen
        total_share = sum(shares.get(t, self.a.default_share) for t in tenants)
        u = self.usage.get(tenant, 0.0) / total_usage if total_usage > 0 else 0.0
        return float(2.0 ** (-u / (share / total_share)))

    def priority(self, job: QueuedJob, now_s: float) -> float:
        a = self.a
        age = min(max(0.0, now_s - job.spec.submit_time_s) / a.max_age_s, 1.0)
        size = job.spec.num_gpus / self.ctx.layout.total_gpus
        if a.favor_small:
            size = 1.0 - size
        qos = a.qos_priority.get(job.spec.qos, 0.0)
        return (a.weight_age * age + a.weight_fairshare * self.fairshare(job.spec.tenant, now_s)
                + a.weight_job_size * size + a.weight_qos * qos + job.spec.priority)

    def key(self, job: QueuedJob, state: CycleState) -> Any:
        return (-self.priority(job, state.now_s), job.spec.submit_time_s)


_SUBMIT_ORDER = attrgetter("spec.submit_time_s", "seq")


class DrfArgs(PluginArgs):
    """Weighted DRF: tenant weights (default 1)."""

    tenant_shares: dict[str, ShareWeight] = Field(default_factory=dict)
    default_share: float = Field(default=1.0, gt=0)


class DrfSort(QueueSortPlugin):
    """Dominant Resource Fairness across tenants (Ghodsi et al., NSDI 2011).

    The next job comes from the tenant with the lowest dominant share (its largest share
    of any resource, divided by its weight), FIFO within a tenant. Resources modelled:
    GPUs (one GPU type per cluster, so the dominant share is the GPU share). Shares are read
    live, so jobs started earlier in the cycle count.
    """

    name = "queue-sort/drf"
    Args = DrfArgs

    def dominant_share(self, tenant: str, state: CycleState) -> float:
        assert isinstance(self.args, DrfArgs)
        weight = self.args.tenant_shares.get(tenant, self.args.default_share)
        gpus = state.tenant_gpus.get(tenant, 0)
        return gpus / self.ctx.layout.total_gpus / weight

    def order(self, jobs: list[QueuedJob], state: CycleState) -> Iterable[QueuedJob]:
        return self._drf(jobs, state)

    def _drf(self, jobs: list[QueuedJob], state: CycleState) -> Iterator[QueuedJob]:
        per: dict[str, list[QueuedJob]] = {}
        for job in sorted(jobs, key=_SUBMIT_ORDER):
            per.setdefault(job.spec.tenant, []).append(job)
        pos = dict.fromkeys(per, 0)
        heap = [(self.dominant_share(t, state), q[0].spec.submit_time_s, t)
                for t, q in per.items()]
        heapq.heapify(heap)
        while heap:
            _, _, tenant = heapq.heappop(heap)
            queue = per[tenant]
            yield queue[pos[tenant]]
            pos[tenant] += 1
            if pos[tenant] < len(queue):
                nxt = queue[pos[tenant]]
                heapq.heappush(heap, (self.dominant_share(tenant, state),
                                      nxt.spec.submit_time_s, tenant))
