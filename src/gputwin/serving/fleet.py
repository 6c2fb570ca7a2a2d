"""A fleet of serving replicas: services, pools, routers, autoscaling, disaggregation.

A *service* (one model behind one endpoint, with its SLO) owns a pool of replicas, or
two pools when prefill and decode are disaggregated: the prefill pool computes the
prompt and the first token, the KV cache then travels to a decode replica (a delay from
the step model's ``kv_transfer_time_s``), which generates the rest; the prefill replica
keeps the request's KV blocks until the transfer completes (``serving/kv_handoff.py``).
Each pool may autoscale on its own metric (prefill and decode pools grow and shrink
independently). Several services may share a cluster (``max_total_gpus`` caps the GPUs
all their replicas hold). Closed-loop clients (``serving/closed_loop.py``) send requests
as earlier ones complete.

Event order at one instant (kernel priority): arrivals and hand-offs (0) → replica step
ends (1) → autoscaler evaluations and timeline samples (2). Every request ends
*finished*, *dropped* (with the reason) or *in flight* at the horizon — never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from gputwin.errors import InputError
from gputwin.serving.arrivals import PRIORITY_ARRIVAL, Arrivals
from gputwin.serving.autoscaler import desired_replicas, stabilized
from gputwin.serving.closed_loop import ClosedLoop
from gputwin.serving.engine import Replica
from gputwin.serving.fleet_outcome import (
    FleetOutcome,
    ReplicaLife,
    ServiceTimeline,
    fleet_outcome,
)
from gputwin.serving.fleet_spec import Dispatch, PoolSpec, ServiceSpec
from gputwin.serving.kv_handoff import KvHandoff
from gputwin.serving.pool import Pool
from gputwin.serving.quiet_ticks import QuietTicks
from gputwin.serving.request import ReqState
from gputwin.sim.kernel import Simulator
from gputwin.workload.llm_request import LlmRequest

if TYPE_CHECKING:
    from gputwin.serving.replica_faults import FaultPlan, ReplicaFaults

#: the fleet's parts stay importable from here
__all__ = ["PRIORITY_ARRIVAL", "PRIORITY_TICK", "Dispatch", "Fleet", "FleetOutcome",
           "PoolSpec", "ReplicaLife", "ServiceSpec", "ServiceTimeline"]

PRIORITY_TICK = 2
_CHUNK_EVENTS = 20000


class Fleet:
    """Wires services and requests onto one :class:`Simulator` and runs them."""

    #: skip the samples and steady autoscaler ticks that change nothing while no replica
    #: is in a step (False: every tick, the reference the tests compare against)
    skip_quiet_ticks = True

    def __init__(self, services: Sequence[ServiceSpec], requests: Sequence[LlmRequest], *,
                 horizon_s: float | None = None, sample_interval_s: float | None = None,
                 max_total_gpus: int | None = None,
                 dispatch: Dispatch | None = None, sim: Simulator | None = None,
                 faults: FaultPlan | None = None,
                 closed_loops: Mapping[int, ClosedLoop] | None = None) -> None:
        if not services:
            raise InputError("a fleet needs at least one service")
        self.sim = sim or Simulator()  # a shared kernel: run/shared_fleet.py
        self.horizon_s = horizon_s
        self.max_total_gpus = max_total_gpus
        self.services = {s.name: s for s in services}
        self.entry: dict[str, Pool] = {}
        self.arrivals = Arrivals(requests, self.sim, self._route, self.entry,
                                 dispatch=dispatch, closed_loops=closed_loops)
        self._clients = self.arrivals.clients
        if self._clients is not None:  # completion hooks that tell the clients
            self.on_finish = self._on_finish_closed  # type: ignore[method-assign]
            self.on_drop = self._on_drop_closed  # type: ignore[method-assign]
        self.in_transit = 0  # requests whose KV cache is on its way (disaggregated)
        self._kv = KvHandoff(self)
        self.lives: list[ReplicaLife] = []
        self._life_of: dict[int, ReplicaLife] = {}
        self._next_id = 0
        self.timelines = {s.name: ServiceTimeline() for s in services}
        self._ticks = QuietTicks(self.sim)
        self.decode: dict[str, Pool] = {}
        self.pools: list[Pool] = []
        self.faults: ReplicaFaults | None = None
        if faults is not None:  # serving.failures (imported only then)
            from gputwin.serving.replica_faults import ReplicaFaults

            self.faults = ReplicaFaults(self, faults)
        for s in services:
            self._add_pools(s)
        if dispatch is None:
            _check_services(requests, self.services)
        _check_gpus(self.pools, max_total_gpus)
        for pool in self.pools:
            self._provision(pool, 0.0, pool.spec.num_replicas, initial=True)
        last = max((r.arrival_time_s for r in requests), default=0.0)
        self.sample_interval_s = sample_interval_s or min(60.0, max(0.1, last / 400.0))
        #: closed loops: the run's length is unknown up front, so the interval grows with
        #: the time run (~400 samples per e-fold of time; the summary's means are
        #: time-weighted)
        self._adaptive_sampling = self._clients is not None and sample_interval_s is None

    def _add_pools(self, s: ServiceSpec) -> None:
        """The service's serving pool, and its prefill pool when disaggregated."""
        main = Pool(s, s.pool, "decode" if s.prefill_pool else "serve")
        self.decode[s.name] = main
        self.pools.append(main)
        self.entry[s.name] = main
        if s.prefill_pool is not None:
            if s.kv_transfer_s is None:
                raise InputError(f"service {s.name!r}: disaggregation needs a KV transfer time")
            pre = Pool(s, s.prefill_pool, "prefill")
            self.entry[s.name] = pre
            self.pools.append(pre)

    # ---- replica lifecycle -------------------------------------------------------------
    def _provision(self, pool: Pool, now: float, count: int, *, initial: bool = False) -> None:
        """Ask for ``count`` more replicas of ``pool``: here they get GPUs at once (the
        initial ones serve at once, later ones after the provisioning delay) within
        ``max_total_gpus``; a shared fleet asks the cluster scheduler instead."""
        spec = pool.spec.autoscaler
        delay = 0.0 if initial or spec is None else spec.provision_delay_s
        if not initial and self.faults is not None and self.faults.is_down(pool):
            return  # its site is down: the outage's end brings the replicas back
        for _ in range(count):
            if (not initial and self.max_total_gpus is not None and self._gpus_in_use()
                    + pool.spec.gpus_per_replica > self.max_total_gpus):
                break
            self._add_replica(pool, now, now + delay)

    def _drain(self, pool: Pool, serving: list[Replica], count: int) -> None:
        """Stop ``count`` serving replicas (newest first) taking requests; each leaves
        when its last request is done. At least one replica keeps accepting."""
        for rep in sorted(serving, key=lambda r: -r.id)[:count]:
            if len(pool.accepting) <= 1:
                break
            rep.accepting = False
            pool.accepting.remove(rep)
            if not rep.in_step and rep.num_outstanding == 0:
                self._retire(rep)

    def _add_replica(self, pool: Pool, now: float, ready: float) -> None:
        rid = self._next_id
        self._next_id += 1
        svc = pool.service.name
        rep = Replica(rid, pool.spec.engine, pool.spec.model, self.sim, self,
                      name=f"{svc}/{pool.role}-{rid}")
        rep.prefill_only = pool.role == "prefill"
        rep.on_idle = self._on_idle
        if self.horizon_s is not None:
            rep.horizon_s = self.horizon_s
        life = ReplicaLife(rep, svc, pool.role, pool.spec.gpus_per_replica, now, ready)
        self.lives.append(life)
        self._life_of[rid] = life
        pool.alive.append(rep)
        pool.last_busy[rid] = 0.0
        if self.faults is not None:
            self.faults.added(pool, rep, ready)
        if ready <= now:
            pool.accepting.append(rep)
        else:
            pool.pending += 1
            rep.accepting = False
            self.sim.schedule_at(ready, lambda: self._ready(pool, rep), PRIORITY_ARRIVAL)

    def _ready(self, pool: Pool, rep: Replica) -> None:
        pool.pending -= 1
        if rep.dead:
            return
        rep.accepting = True
        pool.accepting.append(rep)
        if self.faults is not None:
            self.faults.flush(pool)

    def _on_idle(self, rep: Replica) -> None:
        life = self._life_of[rep.id]
        if not rep.accepting and life.ready_s <= self.sim.now and life.end_s is None:
            self._retire(rep)

    def _retire(self, rep: Replica) -> None:
        life = self._life_of[rep.id]
        life.end_s = self.sim.now
        for pool in self.pools:
            if rep in pool.alive:
                pool.alive.remove(rep)

    def _gpus_in_use(self) -> int:
        return sum(life.gpus for life in self.lives if life.end_s is None)

    # ---- requests ----------------------------------------------------------------------
    def arrive_at(self, at_s: float, callback: Callable[[], None]) -> None:
        """Put an arrival-class event (a request or a hand-off reaching a pool) on the
        kernel: it fires before the replica step ends of the same instant."""
        self.sim.schedule_at(at_s, callback, PRIORITY_ARRIVAL)

    def resubmit(self, state: ReqState) -> None:
        """Send ``state`` to the router again now (a fault took its replica): see
        :meth:`Arrivals.resubmit`."""
        self.arrivals.resubmit(state)

    def accepting_replicas(self, service: str) -> Sequence[Replica]:
        """The replicas of ``service``'s entry pool that take new requests (read-only)."""
        return self.entry[service].accepting

    def _route(self, pool: Pool, state: ReqState, now: float) -> None:
        if not pool.accepting and self.faults is not None:
            self.faults.hold(pool, state)  # every replica is down: wait for a replacement
            return
        rep = pool.router.choose(state.spec, pool.accepting, now)
        rep.submit(state, now)

    # EngineSink
    def on_finish(self, req: ReqState, replica: Replica, now_s: float) -> None:
        if replica.prefill_only and req.generated < req.output:
            self._kv.start(req, replica, now_s)  # disaggregated: on to a decode replica

    def route_to_decode(self, req: ReqState, now: float) -> None:
        """A request whose prompt is computed (its KV cache arrived) joins decode."""
        self._route(self.decode[req.spec.service], req, now)

    def on_drop(self, req: ReqState, replica: Replica | None, now_s: float) -> None:
        req.finish_s = now_s

    def _on_finish_closed(self, req: ReqState, replica: Replica, now_s: float) -> None:
        handed_off = replica.prefill_only and req.generated < req.output
        Fleet.on_finish(self, req, replica, now_s)
        if not handed_off:  # the client has its answer after the engine's API server
            assert self._clients is not None
            self._clients.completed(req.spec, now_s + replica.cfg.frontend_latency_s)

    def _on_drop_closed(self, req: ReqState, replica: Replica | None, now_s: float) -> None:
        Fleet.on_drop(self, req, replica, now_s)
        assert self._clients is not None
        self._clients.completed(req.spec, now_s)

    # ---- periodic work -----------------------------------------------------------------
    def _busy(self) -> bool:
        if self.arrivals.busy or self.in_transit:
            return True
        if self.faults is not None and self.faults.busy():
            return True
        return any(rep.in_step or rep.num_waiting for p in self.pools for rep in p.alive)

    def _sample(self) -> None:
        now = self.sim.now
        for name, tl in self.timelines.items():
            reps = [r for p in self.pools if p.service.name == name for r in p.alive]
            tl.record(now, reps, sum(life.replica.tokens_out for life in self.lives
                                     if life.service == name and life.replica not in reps))
        if self._busy():
            at = self._ticks.sample_at(now, self._sample_interval, self.timelines.values(),
                                       self.pools, self.skip_quiet_ticks)
            self._ticks.sample = self.sim.schedule_at(at, self._sample, PRIORITY_TICK)

    def _sample_interval(self, now: float) -> float:
        """The time from a sample at ``now`` to the next."""
        if self._adaptive_sampling:
            return min(60.0, max(self.sample_interval_s, now / 400.0))
        return self.sample_interval_s

    def _autoscale(self, pool: Pool) -> None:
        spec = pool.spec.autoscaler
        assert spec is not None
        now = self.sim.now
        serving = [r for r in pool.alive if r.accepting]
        current = len(serving) + pool.pending
        want = desired_replicas(spec, current, pool.autoscale_metric(spec.metric, serving, now))
        if spec.scale_down_window_s > 0:
            want = stabilized(pool.recent, now, want, spec.scale_down_window_s)
        if want > current:
            self._provision(pool, now, want - current)
        elif want < current:
            self._drain(pool, serving, current - want)
        self._ticks.steady.pop(id(pool), None)
        if self._busy():
            at, skipped = self._ticks.autoscale_at(now, pool, spec, self.pools,
                                                   self.skip_quiet_ticks)
            tick = self.sim.schedule_at(at, lambda: self._autoscale(pool), PRIORITY_TICK)
            if skipped:  # a no-op tick before the next event: the others' search skips it
                self._ticks.steady[id(pool)] = tick

    def _autoscaler_for(self, pool: Pool) -> Callable[[], None]:
        return lambda: self._autoscale(pool)

    # ---- run ------------------------------------------------------------------------------
    def start(self) -> None:
        """Put the first arrival, sample and autoscaler ticks on the kernel."""
        self.arrivals.start()
        self.sim.schedule_at(0.0, self._sample, PRIORITY_TICK)
        for pool in self.pools:
            if pool.spec.autoscaler is not None:
                interval = pool.spec.autoscaler.interval_s
                self.sim.schedule_at(interval, self._autoscaler_for(pool), PRIORITY_TICK)

    def run(self, progress: Callable[[float], None] | None = None) -> FleetOutcome:
        """Simulate until every request is done (or the horizon). Deterministic."""
        self.start()
        num_events = 0
        while True:
            fired = self.sim.run(until_s=self.horizon_s, max_events=_CHUNK_EVENTS)
            num_events += fired
            if progress is not None:
                progress(self.sim.now)
            if fired < _CHUNK_EVENTS:
                break
        return self.outcome(num_events)

    def outcome(self, num_events: int) -> FleetOutcome:
        """Every request's fate, the replica lives, timelines and ITL histograms."""
        return fleet_outcome(self.arrivals.all_states(), self.lives, self.timelines,
                             horizon_s=self.horizon_s, now_s=self.sim.now,
                             num_events=num_events)


def _check_services(requests: Sequence[LlmRequest], services: Mapping[str, ServiceSpec]) -> None:
    """Every request names a service of the fleet: :class:`InputError` otherwise."""
    unknown = {r.service for r in requests} - set(services)
    if unknown:
        raise InputError(f"requests name unknown service(s) {sorted(unknown)}; known: "
                         f"{sorted(services)}")


def _check_gpus(pools: Sequence[Pool], max_total_gpus: int | None) -> None:
    """The initial replicas fit in ``max_total_gpus``: :class:`InputError` otherwise."""
    gpus = sum(p.spec.num_replicas * p.spec.gpus_per_replica for p in pools)
    if max_total_gpus is not None and gpus > max_total_gpus:
        raise InputError(f"the initial replicas need {gpus} GPUs, the cluster has "
                         f"{max_total_gpus}")
