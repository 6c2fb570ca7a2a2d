"""A serving fleet whose replicas get their GPUs from a cluster scheduler.

On a shared fleet (docs/shared-fleet.md) each replica is a long-running gang job of
``tp · pp`` GPUs: the fleet asks a :class:`ReplicaProvider` (the cluster simulation) for
one, the cluster's scheduler places it among the training jobs (with the serving
priority, so it may preempt training) and calls :meth:`ClusterFleet.granted`; the
replica then loads its weights (``load_s``: from the storage tier's bandwidth and the
model size) and serves. Scale-down first withdraws replicas still waiting for GPUs, then
drains serving ones (newest first); a drained replica hands its GPUs back when its last
request is done, and training refills them.

Requests that arrive while a service has no serving replica (before its first replica is
placed and loaded) wait at the gateway and are routed when one is ready: their TTFT
includes that wait. Every request still ends finished, dropped or in flight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gputwin.serving.closed_loop import ClosedLoop
from gputwin.serving.engine import Replica
from gputwin.serving.fleet import Fleet, ServiceSpec
from gputwin.serving.pool import Pool
from gputwin.serving.request import ReqState
from gputwin.sim.kernel import Simulator
from gputwin.workload.job import JobSpec
from gputwin.workload.llm_request import LlmRequest

#: a replica job's nominal run time (it runs until the fleet releases it): one year
REPLICA_RUNTIME_S = 365 * 86400.0
#: replica job ids start with this (preemption reasons name the preemptor's id)
REPLICA_JOB_PREFIX = "serving/"


class ReplicaProvider(Protocol):
    """What the fleet needs from the cluster that hosts its replicas."""

    def request_replica(self, job: JobSpec) -> None:
        """Queue ``job``; the provider calls ``granted(job_id, now)`` when it starts."""
        ...

    def withdraw_replica(self, job_id: str) -> None:
        """Drop a replica job that is still waiting."""
        ...

    def release_replica(self, job_id: str) -> None:
        """A granted replica has left: free its GPUs."""
        ...


@dataclass(frozen=True, slots=True)
class ReplicaJobs:
    """How replicas are asked for as cluster jobs; ``load_s`` and ``models`` by service."""

    load_s: Mapping[str, float]
    models: Mapping[str, str]
    priority: int = 100
    tenant: str = "serving"
    queue: str = ""
    warm_start: bool = True


@dataclass(slots=True)
class _Ask:
    pool: Pool
    warm: bool
    asked_s: float


class ClusterFleet(Fleet):
    """A :class:`Fleet` on a shared kernel whose replicas are cluster jobs."""

    def __init__(self, services: Sequence[ServiceSpec], requests: Sequence[LlmRequest], *,
                 provider: ReplicaProvider, jobs: ReplicaJobs, sim: Simulator,
                 horizon_s: float | None = None,
                 sample_interval_s: float | None = None,
                 closed_loops: Mapping[int, ClosedLoop] | None = None) -> None:
        self._provider = provider
        self._jobs = jobs
        self._asks: dict[str, _Ask] = {}  # replica job id → waiting for GPUs
        self._asked: dict[int, list[str]] = {}  # id(pool) → its waiting job ids, in order
        self._job_of: dict[int, str] = {}  # replica id → its cluster job
        self._backlog: dict[int, list[ReqState]] = {}  # id(pool) → requests at the gateway
        self._seq = 0
        self.grant_waits_s: list[float] = []  # asked → placed, per granted replica
        self.num_withdrawn = 0
        super().__init__(services, requests, horizon_s=horizon_s,
                         sample_interval_s=sample_interval_s, sim=sim,
                         closed_loops=closed_loops)

    # ---- asking the cluster ---------------------------------------------------------------
    def _provision(self, pool: Pool, now: float, count: int, *, initial: bool = False) -> None:
        svc = pool.service.name
        j = self._jobs
        for _ in range(count):
            self._seq += 1
            job = JobSpec(job_id=f"{REPLICA_JOB_PREFIX}{svc}/{self._seq}", kind="serving",
                          tenant=j.tenant, model=j.models[svc],
                          num_gpus=pool.spec.gpus_per_replica, submit_time_s=now,
                          fixed_duration_s=REPLICA_RUNTIME_S, priority=j.priority,
                          queue=j.queue)
            self._asks[job.job_id] = _Ask(pool, initial and j.warm_start, now)
            self._asked.setdefault(id(pool), []).append(job.job_id)
            pool.pending += 1
            self._provider.request_replica(job)

    def granted(self, job_id: str, now: float) -> None:
        """The cluster started replica job ``job_id``: the replica loads, then serves."""
        ask = self._asks.pop(job_id)
        pool = ask.pool
        self._asked[id(pool)].remove(job_id)
        pool.pending -= 1
        self.grant_waits_s.append(now - ask.asked_s)
        self._job_of[self._next_id] = job_id
        load = 0.0 if ask.warm else self._jobs.load_s[pool.service.name]
        self._add_replica(pool, now, now + load)
        self._flush(pool)

    def _drain(self, pool: Pool, serving: list[Replica], count: int) -> None:
        waiting = self._asked.get(id(pool), [])
        while count > 0 and waiting:  # replicas not placed yet go first
            self._withdraw(waiting.pop())
            pool.pending -= 1
            count -= 1
        if count > 0:
            super()._drain(pool, serving, count)

    def _withdraw(self, job_id: str) -> None:
        del self._asks[job_id]
        self.num_withdrawn += 1
        self._provider.withdraw_replica(job_id)

    def _retire(self, rep: Replica) -> None:
        super()._retire(rep)
        job_id = self._job_of.pop(rep.id, None)
        if job_id is not None:
            self._provider.release_replica(job_id)

    def _autoscale(self, pool: Pool) -> None:
        super()._autoscale(pool)
        spec = pool.spec.autoscaler
        if spec is not None and not self._busy():
            # the traffic is over (the ticks stop): settle at min_replicas, GPUs back
            waiting = self._asked.get(id(pool), [])
            serving = [r for r in pool.alive if r.accepting]
            self._drain(pool, serving, len(waiting) + len(serving) - spec.min_replicas)

    # ---- the gateway ----------------------------------------------------------------------
    def _route(self, pool: Pool, state: ReqState, now: float) -> None:
        if pool.accepting:
            super()._route(pool, state, now)
        else:  # no replica ready yet: the request waits at the gateway
            self._backlog.setdefault(id(pool), []).append(state)

    def _ready(self, pool: Pool, rep: Replica) -> None:
        super()._ready(pool, rep)
        self._flush(pool)

    def _flush(self, pool: Pool) -> None:
        """Route the requests waiting at the gateway once ``pool`` has a replica."""
        backlog = self._backlog.get(id(pool))
        if not backlog or not pool.accepting:
            return
        now = self.sim.now
        for state in backlog:
            pool.router.choose(state.spec, pool.accepting, now).submit(state, now)
        backlog.clear()

    def _busy(self) -> bool:
        return super()._busy() or any(self._backlog.values())

    @property
    def num_backlogged(self) -> int:
        """Requests waiting at the gateway now."""
        return sum(len(b) for b in self._backlog.values())


__all__ = ["REPLICA_JOB_PREFIX", "REPLICA_RUNTIME_S", "ClusterFleet", "ReplicaJobs",
           "ReplicaProvider"]
