"""Serving under failures: replica faults, retried requests and replacement replicas.

:class:`ReplicaFaults` applies a :class:`~gputwin.serving.fault_plan.FaultPlan` to a fleet:
each replica's faults are drawn as the plan's Poisson processes
(:func:`~gputwin.serving.fault_plan.draw_fault`) and counted in
:mod:`gputwin.serving.fault_stats`.

When a replica fails (:meth:`ReplicaFaults._fail`):

- it stops at once; every request it held, running or waiting, loses its KV and its
  generated tokens and is sent back to the service's router after the fault's detection
  time (the client's stream broke; the gateway retries), to start again from its prompt;
  after ``max_retries`` retries it is dropped with the reason — never lost silently;
- a replacement replica is requested at once and serves after the service's restart time
  (reschedule on a healthy node, load the weights, start the engine), so the pool runs
  one replica short until then;
- requests that find no replica accepting (all down) wait at the gateway and go to the
  first replacement that comes up.

A *site outage* (:class:`SiteOutage`, runs across sites) takes every replica of the site's
groups down from ``start_s`` to ``end_s``: their requests are retried as above, the
dispatcher routes them (and new arrivals) to other sites, no replica is added there while
the site is down, and at the end the groups get back as many replicas as they had, serving
after their restart time.

Draws come from one seeded generator per run (the ``serving/faults`` stream), in replica
creation order: same seed, same faults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gputwin.serving.fault_plan import (
    FaultCause,
    FaultPlan,
    SiteOutage,
    draw_fault,
    replica_rates_per_s,
)
from gputwin.serving.fault_stats import (
    OutageStats,
    ServiceFaultStats,
    failures_report,
    site_outage_rows,
    total_stats,
)
from gputwin.serving.request import DROPPED, ReqState, reset_for_retry

if TYPE_CHECKING:
    from gputwin.serving.engine import Replica
    from gputwin.serving.fleet import Fleet
    from gputwin.serving.pool import Pool

#: the plan's types stay importable from here (the fleet and the run layer use them)
__all__ = ["PRIORITY_FAULT", "FaultCause", "FaultPlan", "ReplicaFaults", "SiteOutage",
           "replica_rates_per_s"]

PRIORITY_FAULT = 0  # with arrivals, before the step ends of the same instant


class ReplicaFaults:
    """Draws and applies replica faults for a :class:`~gputwin.serving.fleet.Fleet`."""

    def __init__(self, fleet: Fleet, plan: FaultPlan) -> None:
        self.fleet, self.plan = fleet, plan
        self.stats: dict[str, ServiceFaultStats] = {}
        self._held: dict[int, list[ReqState]] = {}  # id(pool) -> requests at the gateway
        self._waiting = 0  # requests held or between a fault and their retry
        self._down: dict[str, int] = {}  # service -> site outages holding it down
        self.outage_stats: list[OutageStats] = []
        for outage in plan.outages:
            st = OutageStats()
            self.outage_stats.append(st)
            fleet.sim.schedule_at(outage.start_s, _bind(self._site_down, (outage, st)),
                                  PRIORITY_FAULT)

    def is_down(self, pool: Pool) -> bool:
        """True while a site outage holds ``pool``'s service down."""
        return self._down.get(pool.service.name, 0) > 0

    # ---- hooks the fleet calls -------------------------------------------------------
    def added(self, pool: Pool, rep: Replica, ready_s: float) -> None:
        """A replica was created: draw its first fault (counted from when it serves)."""
        svc = pool.service.name
        rates = replica_rates_per_s(self.plan.models, pool.spec.gpus_per_replica,
                                    self.plan.gpus_per_node.get(svc, 8))
        fault = draw_fault(rates, self.plan.rng, ready_s)
        if fault is None:
            return
        at, model = fault
        horizon = self.fleet.horizon_s
        if horizon is None or at < horizon:
            self.fleet.sim.schedule_at(at, lambda: self._fail(pool, rep, model),
                                       PRIORITY_FAULT)

    def hold(self, pool: Pool, req: ReqState) -> None:
        """No replica of ``pool`` accepts: keep ``req`` until a replacement is up."""
        self._held.setdefault(id(pool), []).append(req)
        self._waiting += 1

    def flush(self, pool: Pool) -> None:
        """A replica of ``pool`` came up: send it the requests waiting at the gateway."""
        held = self._held.pop(id(pool), None)
        if not held:
            return
        now = self.fleet.sim.now
        self._waiting -= len(held)
        for req in held:
            self.fleet._route(pool, req, now)

    def busy(self) -> bool:
        return self._waiting > 0

    # ---- a fault ---------------------------------------------------------------------
    def _fail(self, pool: Pool, rep: Replica, model: FaultCause) -> None:
        fleet = self.fleet
        life = fleet._life_of[rep.id]
        if life.end_s is not None or rep.dead:
            return  # retired (scale-down) or taken by a site outage before the fault
        if not fleet._busy():
            return  # the workload is done: no fault, no replacement, no further draws
        now = fleet.sim.now
        svc = pool.service.name
        st = self.stats.setdefault(svc, ServiceFaultStats())
        st.count_fault(model.name)
        restart = self.plan.restart_s[svc]
        st.down_replica_s += restart  # until the replacement serves
        self._take_down(pool, rep, model.name, model.detect_s, st)
        fleet._add_replica(pool, now, now + restart)  # replacement (draws its own faults)

    def _take_down(self, pool: Pool, rep: Replica, cause: str, detect_s: float,
                   st: ServiceFaultStats, outage: OutageStats | None = None) -> None:
        """``rep`` dies now: out of its pool, its requests retried after ``detect_s``
        (or dropped with the reason after ``max_retries``)."""
        fleet = self.fleet
        now = fleet.sim.now
        life = fleet._life_of[rep.id]
        life.end_s, life.failed = now, cause
        if rep in pool.accepting:
            pool.accepting.remove(rep)
        if rep in pool.alive:
            pool.alive.remove(rep)
        retry_at = now + detect_s
        for req in rep.fail(now):
            st.lost_tokens += req.generated
            if req.retries >= self.plan.max_retries:
                req.status = DROPPED
                req.reason = f"replica failed ({cause} fault) after {req.retries} retries"
                fleet.on_drop(req, rep, now)  # finish time now (a closed-loop client resends)
                st.failed += 1
                if outage is not None:
                    outage.requests_failed += 1
                continue
            reset_for_retry(req)
            st.retried += 1
            if outage is not None:
                outage.requests_retried += 1
            self._waiting += 1
            fleet.sim.schedule_at(retry_at, _bind(self._retry, req), PRIORITY_FAULT)

    def _retry(self, req: ReqState) -> None:
        self._waiting -= 1
        self.fleet.resubmit(req)

    # ---- a site outage ---------------------------------------------------------------
    def _site_down(self, args: tuple[SiteOutage, OutageStats]) -> None:
        outage, ost = args
        fleet = self.fleet
        duration = outage.end_s - outage.start_s
        counts: dict[int, int] = {}
        for pool in fleet.pools:
            svc = pool.service.name
            if svc not in outage.groups:
                continue
            self._down[svc] = self._down.get(svc, 0) + 1
            counts[id(pool)] = len(pool.alive)
            st = self.stats.setdefault(svc, ServiceFaultStats())
            st.count_fault("site")
            restart = self.plan.restart_s[svc]
            for rep in list(pool.alive):
                ost.replicas += 1
                st.down_replica_s += duration + restart
                st.unheld_s += duration
                self._take_down(pool, rep, "site", outage.detect_s, st, ost)
        fleet.sim.schedule_at(outage.end_s, _bind(self._site_up, (outage, counts)),
                              PRIORITY_FAULT)

    def _site_up(self, args: tuple[SiteOutage, dict[int, int]]) -> None:
        outage, counts = args
        fleet = self.fleet
        now = fleet.sim.now
        for pool in fleet.pools:
            svc = pool.service.name
            if svc not in outage.groups:
                continue
            self._down[svc] -= 1
            if self._down[svc]:
                continue  # another outage still holds it
            ready = now + self.plan.restart_s[svc]
            for _ in range(counts.get(id(pool), 0)):
                fleet._add_replica(pool, now, ready)

    # ---- summary ---------------------------------------------------------------------
    def report(self, service: str | None, replica_s: float) -> dict[str, Any]:
        """The ``failures`` section of ``service`` (``None``: every service together, with
        ``replica_s`` their total); see :func:`~gputwin.serving.fault_stats.failures_report`."""
        st = self.stats.get(service, ServiceFaultStats()) if service is not None else (
            total_stats(self.stats.values()))
        return failures_report(st, replica_s)

    def site_report(self) -> list[dict[str, Any]]:
        """One row per site outage: when, the replicas it took, requests retried/failed."""
        return site_outage_rows(self.plan.outages, self.outage_stats)


def _bind(func: Callable[[Any], None], arg: Any) -> Callable[[], None]:
    return lambda: func(arg)
