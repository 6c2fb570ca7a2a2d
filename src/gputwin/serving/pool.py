"""One pool of a serving fleet: a service's identical replicas behind one router, with
the bookkeeping its autoscaler reads (:mod:`gputwin.serving.fleet`)."""

from __future__ import annotations

from collections.abc import Sequence

from gputwin.serving.engine import Replica
from gputwin.serving.fleet_spec import PoolSpec, ServiceSpec
from gputwin.serving.router import Router, make_router


class Pool:
    """The replicas of one pool: ``alive`` (not retired), ``accepting`` (taking new
    requests), ``pending`` (provisioning), and the autoscaler's state."""

    def __init__(self, service: ServiceSpec, spec: PoolSpec, role: str) -> None:
        self.service, self.spec, self.role = service, spec, role
        self.router: Router = make_router(spec.router)
        self.accepting: list[Replica] = []
        self.alive: list[Replica] = []
        self.pending = 0  # provisioning
        self.last_busy: dict[int, float] = {}
        self.last_tick_s = 0.0
        self.recent: list[tuple[float, int]] = []  # autoscaler asks (scale-down window)

    def autoscale_metric(self, metric: str, serving: Sequence[Replica], now: float) -> float:
        """The autoscaler's metric over the ``serving`` replicas, per replica: waiting
        requests (queue), requests inside (concurrency) or busy share since the last tick
        (utilization); starts a new tick."""
        if metric != "utilization":
            value = self.load_metric(metric, serving)
        else:
            n = max(1, len(serving))
            span = max(1e-9, now - self.last_tick_s)
            value = sum(min(1.0, (r.busy_s_at(now) - self.last_busy.get(r.id, 0.0)) / span)
                        for r in serving) / n
        for r in self.alive:
            self.last_busy[r.id] = r.busy_s_at(now)
        self.last_tick_s = now
        return value

    @staticmethod
    def load_metric(metric: str, serving: Sequence[Replica]) -> float:
        """Waiting requests (``queue``) or requests inside (``concurrency``) per replica."""
        n = max(1, len(serving))
        if metric == "queue":
            return sum(r.num_waiting for r in serving) / n
        return sum(r.num_outstanding for r in serving) / n
