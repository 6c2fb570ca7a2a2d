"""Serving under failures: replica faults, retried requests and replacement replicas.

Each replica fails as a Poisson process whose rate is the sum, over the fault models (the
run layer passes those of ``reliability/faults.py``, the same catalog as cluster runs; here
only their :class:`FaultCause` face is used), of the model's rate
per unit times the units the replica spans: its GPUs for per-GPU models, its nodes for
per-node ones, one leaf for per-leaf ones. Planned maintenance and stragglers are left
out (a planned drain moves requests without loss; a slow replica is not a failed one).

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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from gputwin.serving.request import DROPPED, ReqState, reset_for_retry

if TYPE_CHECKING:
    from gputwin.serving.engine import Replica
    from gputwin.serving.fleet import Fleet, _Pool

PRIORITY_FAULT = 0  # with arrivals, before the step ends of the same instant


class FaultCause(Protocol):
    """What a replica fault needs of a fault model (``reliability.faults.FaultModel``)."""

    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...  # gpu | node | leaf
    @property
    def planned(self) -> bool: ...
    @property
    def is_straggler(self) -> bool: ...
    @property
    def detect_s(self) -> float: ...
    def rate_per_s(self, num_units: int) -> float: ...


@dataclass(frozen=True, slots=True)
class SiteOutage:
    """Every replica of ``groups`` (the fleet services at ``site``) down over
    ``[start_s, end_s)``; their requests retried after ``detect_s``."""

    site: str
    groups: tuple[str, ...]
    start_s: float
    end_s: float
    detect_s: float


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Resolved ``failures:`` of a serving run (built in ``run/serving_faults.py``)."""

    models: tuple[FaultCause, ...]
    gpus_per_node: dict[str, int]  # service -> GPUs per node of its hardware
    restart_s: dict[str, float]  # service -> fault to replacement serving
    max_retries: int
    rng: np.random.Generator
    outages: tuple[SiteOutage, ...] = ()


def replica_rates_per_s(models: tuple[FaultCause, ...], gpus: int, gpus_per_node: int
                        ) -> list[tuple[FaultCause, float]]:
    """Each unplanned, non-straggler model's fault rate (per second) for one replica of
    ``gpus`` GPUs (on ``ceil(gpus / gpus_per_node)`` nodes, within one leaf)."""
    nodes = -(-gpus // max(1, gpus_per_node))
    units = {"gpu": gpus, "node": nodes, "leaf": 1}
    out = []
    for m in models:
        if m.planned or m.is_straggler:
            continue
        rate = m.rate_per_s(units[m.unit])
        if rate > 0:
            out.append((m, rate))
    return out


@dataclass(slots=True)
class _ServiceStats:
    faults: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    failed: int = 0
    down_replica_s: float = 0.0
    unheld_s: float = 0.0  # replica-time a site outage held no replica (not paid)
    lost_tokens: int = 0  # output tokens generated, then lost with their replica


@dataclass(slots=True)
class _OutageStats:
    replicas: int = 0  # taken down
    requests_retried: int = 0
    requests_failed: int = 0


class ReplicaFaults:
    """Draws and applies replica faults for a :class:`~gputwin.serving.fleet.Fleet`."""

    def __init__(self, fleet: Fleet, plan: FaultPlan) -> None:
        self.fleet, self.plan = fleet, plan
        self.stats: dict[str, _ServiceStats] = {}
        self._held: dict[int, list[ReqState]] = {}  # id(pool) -> requests at the gateway
        self._waiting = 0  # requests held or between a fault and their retry
        self._down: dict[str, int] = {}  # service -> site outages holding it down
        self.outage_stats: list[_OutageStats] = []
        for outage in plan.outages:
            st = _OutageStats()
            self.outage_stats.append(st)
            fleet.sim.schedule_at(outage.start_s, _bind(self._site_down, (outage, st)),
                                  PRIORITY_FAULT)

    def is_down(self, pool: _Pool) -> bool:
        """True while a site outage holds ``pool``'s service down."""
        return self._down.get(pool.service.name, 0) > 0

    # ---- hooks the fleet calls -------------------------------------------------------
    def added(self, pool: _Pool, rep: Replica, ready_s: float) -> None:
        """A replica was created: draw its first fault (counted from when it serves)."""
        svc = pool.service.name
        rates = replica_rates_per_s(self.plan.models, pool.spec.gpus_per_replica,
                                    self.plan.gpus_per_node.get(svc, 8))
        total = sum(r for _, r in rates)
        if total <= 0:
            return
        rng = self.plan.rng
        at = ready_s + float(rng.exponential(1.0 / total))
        pick = float(rng.random()) * total
        model = rates[-1][0]
        for m, r in rates:
            if pick < r:
                model = m
                break
            pick -= r
        horizon = self.fleet.horizon_s
        if horizon is None or at < horizon:
            self.fleet.sim.schedule_at(at, lambda: self._fail(pool, rep, model),
                                       PRIORITY_FAULT)

    def hold(self, pool: _Pool, req: ReqState) -> None:
        """No replica of ``pool`` accepts: keep ``req`` until a replacement is up."""
        self._held.setdefault(id(pool), []).append(req)
        self._waiting += 1

    def flush(self, pool: _Pool) -> None:
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
    def _fail(self, pool: _Pool, rep: Replica, model: FaultCause) -> None:
        fleet = self.fleet
        life = fleet._life_of[rep.id]
        if life.end_s is not None or rep.dead:
            return  # retired (scale-down) or taken by a site outage before the fault
        if not fleet._busy():
            return  # the workload is done: no fault, no replacement, no further draws
        now = fleet.sim.now
        svc = pool.service.name
        st = self.stats.setdefault(svc, _ServiceStats())
        st.faults[model.name] = st.faults.get(model.name, 0) + 1
        restart = self.plan.restart_s[svc]
        st.down_replica_s += restart  # until the replacement serves
        self._take_down(pool, rep, model.name, model.detect_s, st)
        fleet._add_replica(pool, now, now + restart)  # replacement (draws its own faults)

    def _take_down(self, pool: _Pool, rep: Replica, cause: str, detect_s: float,
                   st: _ServiceStats, outage: _OutageStats | None = None) -> None:
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
    def _site_down(self, args: tuple[SiteOutage, _OutageStats]) -> None:
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
            st = self.stats.setdefault(svc, _ServiceStats())
            st.faults["site"] = st.faults.get("site", 0) + 1
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
        ``replica_s`` their total): faults by cause, replica-down hours, the share of the
        replica-time lost (of the time replicas were held plus the time a site outage held
        none), requests retried and failed, tokens lost."""
        st = self.stats.get(service, _ServiceStats()) if service is not None else (
            _total(self.stats.values()))
        down = st.down_replica_s
        span = replica_s + st.unheld_s
        return {"faults": sum(st.faults.values()), "by_cause": dict(sorted(st.faults.items())),
                "replica_down_hours": down / 3600.0,
                "capacity_lost_frac": min(1.0, down / span) if span > 0 else 0.0,
                "requests_retried": st.retried, "requests_failed": st.failed,
                "output_tokens_lost": st.lost_tokens}

    def site_report(self) -> list[dict[str, Any]]:
        """One row per site outage: when, the replicas it took, requests retried/failed."""
        return [{"site": o.site, "start_s": o.start_s, "end_s": o.end_s,
                 "groups": list(o.groups), "replicas_down": st.replicas,
                 "requests_retried": st.requests_retried,
                 "requests_failed": st.requests_failed}
                for o, st in zip(self.plan.outages, self.outage_stats, strict=True)]


def _total(stats: Iterable[_ServiceStats]) -> _ServiceStats:
    out = _ServiceStats()
    for st in stats:
        for cause, n in st.faults.items():
            out.faults[cause] = out.faults.get(cause, 0) + n
        out.retried += st.retried
        out.failed += st.failed
        out.down_replica_s += st.down_replica_s
        out.unheld_s += st.unheld_s
        out.lost_tokens += st.lost_tokens
    return out


def _bind(func: Callable[[Any], None], arg: Any) -> Callable[[], None]:
    return lambda: func(arg)
