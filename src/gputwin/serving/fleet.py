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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from gputwin.errors import InputError
from gputwin.serving.autoscaler import AutoscalerSpec, desired_replicas, stabilized
from gputwin.serving.closed_loop import ClosedLoop, ClosedLoopClients
from gputwin.serving.config import EngineConfig
from gputwin.serving.engine import Replica, StepModel
from gputwin.serving.histogram import LogHistogram
from gputwin.serving.kv_handoff import KvHandoff
from gputwin.serving.request import DROPPED, FINISHED, ReqState
from gputwin.serving.router import Router, make_router
from gputwin.serving.ticks import after, skip_to
from gputwin.sim.kernel import EventHandle, Simulator
from gputwin.workload.llm_request import LlmRequest

if TYPE_CHECKING:
    from gputwin.serving.replica_faults import FaultPlan, ReplicaFaults

PRIORITY_ARRIVAL = 0
PRIORITY_TICK = 2
_CHUNK_EVENTS = 20000

#: ``(request, now_s) → (request for the chosen service, delay_s before it reaches it)``.
Dispatch = Callable[[LlmRequest, float], tuple[LlmRequest, float]]


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """Identical replicas behind one router."""

    engine: EngineConfig
    model: StepModel
    num_replicas: int
    gpus_per_replica: int
    router: str = "least_outstanding"
    autoscaler: AutoscalerSpec | None = None

    def __post_init__(self) -> None:
        if self.num_replicas < 1:
            raise InputError(f"a pool needs at least one replica, got {self.num_replicas}")


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    pool: PoolSpec  # the serving pool (the decode pool when disaggregated)
    prefill_pool: PoolSpec | None = None
    kv_transfer_s: Callable[[int], float] | None = None  # prompt tokens → seconds
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None


@dataclass(slots=True)
class ReplicaLife:
    """When a replica existed: requested at ``start_s``, serving from ``ready_s``."""

    replica: Replica
    service: str
    role: str  # "serve" | "prefill" | "decode"
    gpus: int
    start_s: float
    ready_s: float
    end_s: float | None = None
    failed: str = ""  # the fault that ended it ("" = retired or still serving)


@dataclass(slots=True)
class ServiceTimeline:
    """Samples every ``sample_interval_s``: value ``v[i]`` observed at ``time_s[i]``."""

    time_s: list[float] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    kv_used_frac: list[float] = field(default_factory=list)
    tokens_out: list[float] = field(default_factory=list)  # cumulative output tokens
    #: running sequences per decoding replica (a disaggregated service's prefill pool
    #: left out: its replicas hand each sequence on after the prompt)
    batch_per_replica: list[float] = field(default_factory=list)

    def record(self, now: float, reps: Sequence[Replica], retired_tokens_out: float) -> None:
        """One sample of the service's serving replicas ``reps`` (``retired_tokens_out``:
        the output tokens of its replicas no longer serving)."""
        self.time_s.append(now)
        self.replicas.append(len(reps))
        self.running.append(sum(r.num_running for r in reps))
        decoders = [r for r in reps if not r.prefill_only]
        self.batch_per_replica.append(
            sum(r.num_running for r in decoders) / len(decoders) if decoders else 0.0)
        self.waiting.append(sum(r.num_waiting for r in reps))
        blocks = sum(r.pool.num_blocks for r in reps)
        used = sum(r.kv_used_blocks_at(now) for r in reps)
        self.kv_used_frac.append(used / blocks if blocks else 0.0)
        self.tokens_out.append(retired_tokens_out + sum(r.tokens_out_at(now) for r in reps))

    def repeated(self) -> bool:
        """Whether the last sample has the values of the one before it."""
        return len(self.time_s) >= 2 and all(
            xs[-1] == xs[-2] for xs in (self.tokens_out, self.running, self.waiting,
                                        self.replicas, self.kv_used_frac,
                                        self.batch_per_replica))


@dataclass(slots=True)
class FleetOutcome:
    states: list[ReqState]
    lives: list[ReplicaLife]
    timelines: dict[str, ServiceTimeline]
    itl: dict[str, LogHistogram]
    end_s: float
    num_events: int
    num_preemptions: dict[str, int]


class _Pool:
    def __init__(self, fleet: Fleet, service: ServiceSpec, spec: PoolSpec, role: str) -> None:
        self.fleet, self.service, self.spec, self.role = fleet, service, spec, role
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


class _QuietTicks:
    """When the fleet's periodic ticks (timeline samples, autoscaler evaluations) fire:
    every interval, or, while the fleet is quiet (no replica inside a step), at the last
    tick of their grid before the next event (:mod:`gputwin.serving.ticks`). Holds the
    pending sample and the autoscaler ticks a skip put just before an event, which the
    search for the next event looks past."""

    __slots__ = ("sample", "sim", "steady")

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.sample: EventHandle | None = None
        self.steady: dict[int, EventHandle] = {}  # pool id -> its skipped-to tick

    def sample_at(self, now: float, interval_at: Callable[[float], float],
                  timelines: Iterable[ServiceTimeline], pools: Sequence[_Pool],
                  skip: bool) -> float:
        """The next sample's time. A sample that repeats the one before in every
        service (the output rate it shows, 0, holds over the gap) may skip while quiet."""
        skip_s = (skip_to(now, self.next_event_s(), interval_at)
                  if skip and all(tl.repeated() for tl in timelines) and _quiet(pools)
                  else None)
        return after(now, interval_at(now)) if skip_s is None else skip_s

    def autoscale_at(self, now: float, pool: _Pool, spec: AutoscalerSpec,
                     pools: Sequence[_Pool], skip: bool) -> tuple[float, bool]:
        """The pool's next autoscaler tick and whether it skipped (a steady pool's ticks
        keep its replica count while the fleet stays quiet)."""
        skip_s = None
        if skip and _quiet(pools) and _steady(pool, spec):
            skip_s = skip_to(now, self.next_event_s(), lambda _: spec.interval_s)
        return (after(now, spec.interval_s), False) if skip_s is None else (skip_s, True)

    def next_event_s(self) -> float | None:
        """The next event's time, not counting the ticks that change nothing while the
        fleet is quiet: the next sample and the steady autoscaler ticks."""
        ignore = set(self.steady.values())
        if self.sample is not None:
            ignore.add(self.sample)
        return self.sim.peek_excluding(ignore)


def _quiet(pools: Sequence[_Pool]) -> bool:
    """No replica is inside a step, so nothing a tick reads changes until the next event."""
    return not any(rep.in_step for p in pools for rep in p.alive)


def _steady(pool: _Pool, spec: AutoscalerSpec) -> bool:
    """Whether the pool's autoscaler ticks, while the fleet stays quiet, all keep its
    replica count: the metric stays put (no busy time accrues, so utilization reads 0)
    and asks no other count, and no higher ask waits in the scale-down window. Skipping
    them then changes nothing (the tick after a skip reads the same utilization span and
    window maximum as without it)."""
    serving = [r for r in pool.alive if r.accepting]
    current = len(serving) + pool.pending
    metric = 0.0 if spec.metric == "utilization" else pool.load_metric(spec.metric, serving)
    return (desired_replicas(spec, current, metric) == current
            and all(w <= current for _, w in pool.recent))


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
        self._requests = requests
        # request states are created at arrival (fewer live objects, cheaper set-up)
        self.states: list[ReqState | None] = [None] * len(requests)
        self._clients: ClosedLoopClients | None = None
        self._order = self._wire_clients(closed_loops)
        self._next = 0
        self._dispatch = dispatch
        self._index_of: dict[int, int] | None = None  # request id -> index (resubmit)
        self._arrive_cb = self._arrive if dispatch is None else self._arrive_dispatched
        self.in_transit = 0  # requests between two places (network delay, KV hand-off)
        self._kv = KvHandoff(self)
        self.lives: list[ReplicaLife] = []
        self._life_of: dict[int, ReplicaLife] = {}
        self._next_id = 0
        self.timelines = {s.name: ServiceTimeline() for s in services}
        self._ticks = _QuietTicks(self.sim)
        self.entry: dict[str, _Pool] = {}
        self.decode: dict[str, _Pool] = {}
        self.pools: list[_Pool] = []
        self.faults: ReplicaFaults | None = None
        if faults is not None:  # serving.failures (imported only then)
            from gputwin.serving.replica_faults import ReplicaFaults

            self.faults = ReplicaFaults(self, faults)
        for s in services:
            self._add_pools(s)
        unknown = {r.service for r in requests} - set(self.services)
        if unknown and dispatch is None:
            raise InputError(f"requests name unknown service(s) {sorted(unknown)}; known: "
                             f"{sorted(self.services)}")
        gpus = sum(p.spec.num_replicas * p.spec.gpus_per_replica for p in self.pools)
        if max_total_gpus is not None and gpus > max_total_gpus:
            raise InputError(f"the initial replicas need {gpus} GPUs, the cluster has "
                             f"{max_total_gpus}")
        for pool in self.pools:
            self._provision(pool, 0.0, pool.spec.num_replicas, initial=True)
        last = max((r.arrival_time_s for r in requests), default=0.0)
        self.sample_interval_s = sample_interval_s or min(60.0, max(0.1, last / 400.0))
        #: closed loops: the run's length is unknown up front, so the interval grows with
        #: the time run (~400 samples per e-fold of time; the summary's means are
        #: time-weighted)
        self._adaptive_sampling = self._clients is not None and sample_interval_s is None

    def _wire_clients(self, closed_loops: Mapping[int, ClosedLoop] | None) -> Sequence[int]:
        """The arrival order of the open-loop requests; closed-loop client groups
        (serving/closed_loop.py) send theirs as earlier ones complete, through completion
        hooks swapped in only then (open-loop runs keep the plain ones)."""
        if not closed_loops:
            return _arrival_order(self._requests)
        self._clients = ClosedLoopClients(self._requests, closed_loops, self._send_closed)
        self.on_finish = self._on_finish_closed  # type: ignore[method-assign]
        self.on_drop = self._on_drop_closed  # type: ignore[method-assign]
        return _arrival_order(self._requests, self._clients.open_indices)

    def _add_pools(self, s: ServiceSpec) -> None:
        """The service's serving pool, and its prefill pool when disaggregated."""
        main = _Pool(self, s, s.pool, "decode" if s.prefill_pool else "serve")
        self.decode[s.name] = main
        self.pools.append(main)
        self.entry[s.name] = main
        if s.prefill_pool is not None:
            if s.kv_transfer_s is None:
                raise InputError(f"service {s.name!r}: disaggregation needs a KV transfer time")
            pre = _Pool(self, s, s.prefill_pool, "prefill")
            self.entry[s.name] = pre
            self.pools.append(pre)

    # ---- replica lifecycle -------------------------------------------------------------
    def _provision(self, pool: _Pool, now: float, count: int, *, initial: bool = False) -> None:
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

    def _drain(self, pool: _Pool, serving: list[Replica], count: int) -> None:
        """Stop ``count`` serving replicas (newest first) taking requests; each leaves
        when its last request is done. At least one replica keeps accepting."""
        for rep in sorted(serving, key=lambda r: -r.id)[:count]:
            if len(pool.accepting) <= 1:
                break
            rep.accepting = False
            pool.accepting.remove(rep)
            if not rep.in_step and rep.num_outstanding == 0:
                self._retire(rep)

    def _add_replica(self, pool: _Pool, now: float, ready: float) -> None:
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

    def _ready(self, pool: _Pool, rep: Replica) -> None:
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
    def _arrive(self) -> None:
        i = self._take_arrival()
        spec = self._requests[i]
        state = self.states[i] = ReqState(spec, spec.num_output_tokens)
        self._route(self.entry[spec.service], state, self.sim.now)

    def _take_arrival(self) -> int:
        """The index of the request arriving now; schedules the next arrival."""
        i = self._order[self._next]
        self._next += 1
        self._schedule_next_arrival()
        return i

    def _arrive_dispatched(self) -> None:
        """An arrival whose service (site group) and network delay ``dispatch`` decides:
        the request reaches that group's router ``delay`` seconds later (in transit until
        then: counted in flight at the horizon)."""
        i = self._take_arrival()
        self._enter_dispatched(i, self._requests[i], self.sim.now)

    def _enter_dispatched(self, i: int, spec: LlmRequest, now: float) -> None:
        assert self._dispatch is not None
        spec, delay = self._dispatch(spec, now)
        state = self.states[i] = ReqState(spec, spec.num_output_tokens)
        self.in_transit += 1
        self.sim.schedule_at(now + delay, lambda: self._deliver(state), PRIORITY_ARRIVAL)

    def arrive_at(self, at_s: float, callback: Callable[[], None]) -> None:
        """Put an arrival-class event (a request or a hand-off reaching a pool) on the
        kernel: it fires before the replica step ends of the same instant."""
        self.sim.schedule_at(at_s, callback, PRIORITY_ARRIVAL)

    def _send_closed(self, i: int, at_s: float) -> None:
        self.arrive_at(at_s, lambda: self._arrive_closed(i))

    def _arrive_closed(self, i: int) -> None:
        """A closed-loop client sends request ``i`` now (its arrival time is now)."""
        now = self.sim.now
        spec = replace(self._requests[i], arrival_time_s=now)
        if self._dispatch is not None:
            self._enter_dispatched(i, spec, now)
            return
        state = self.states[i] = ReqState(spec, spec.num_output_tokens)
        self._route(self.entry[spec.service], state, now)

    def _deliver(self, state: ReqState) -> None:
        self.in_transit -= 1
        self._route(self.entry[state.spec.service], state, self.sim.now)

    def resubmit(self, state: ReqState) -> None:
        """Send ``state`` to the router again now (a fault took its replica): to its own
        service, or, in a dispatched fleet (sites), to the group the dispatcher picks now,
        after that route's network delay."""
        now = self.sim.now
        if self._dispatch is None:
            self._route(self.entry[state.spec.service], state, now)
            return
        if self._index_of is None:
            self._index_of = {r.request_id: i for i, r in enumerate(self._requests)}
        base = self._requests[self._index_of[state.rid]]
        if base.closed_loop >= 0:  # sent by a client: keep the time it was sent
            base = replace(base, arrival_time_s=state.spec.arrival_time_s)
        spec, delay = self._dispatch(base, now)
        state.spec = spec
        self.in_transit += 1
        self.sim.schedule_at(now + delay, lambda: self._deliver(state), PRIORITY_ARRIVAL)

    def accepting_replicas(self, service: str) -> Sequence[Replica]:
        """The replicas of ``service``'s entry pool that take new requests (read-only)."""
        return self.entry[service].accepting

    def _schedule_next_arrival(self) -> None:
        if self._next < len(self._order):
            spec = self._requests[self._order[self._next]]
            self.sim.schedule_at(spec.arrival_time_s + spec.pre_delay_s, self._arrive_cb,
                                 PRIORITY_ARRIVAL)

    def _route(self, pool: _Pool, state: ReqState, now: float) -> None:
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
        if not handed_off:
            assert self._clients is not None
            self._clients.completed(req.spec, now_s)

    def _on_drop_closed(self, req: ReqState, replica: Replica | None, now_s: float) -> None:
        Fleet.on_drop(self, req, replica, now_s)
        assert self._clients is not None
        self._clients.completed(req.spec, now_s)

    # ---- periodic work -----------------------------------------------------------------
    def _busy(self) -> bool:
        if self._next < len(self._order) or self.in_transit:
            return True
        if self._clients is not None and self._clients.busy:
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

    def _autoscale(self, pool: _Pool) -> None:
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

    def _all_states(self) -> list[ReqState]:
        """Every request's state (those that never arrived: fresh, waiting)."""
        states = self.states
        for i, st in enumerate(states):
            if st is None:
                spec = self._requests[i]
                states[i] = ReqState(spec, output=spec.num_output_tokens)
        return states  # type: ignore[return-value]

    def _autoscaler_for(self, pool: _Pool) -> Callable[[], None]:
        return lambda: self._autoscale(pool)

    # ---- run ------------------------------------------------------------------------------
    def start(self) -> None:
        """Put the first arrival, sample and autoscaler ticks on the kernel."""
        self._schedule_next_arrival()
        if self._clients is not None:
            self._clients.start()
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
        return _outcome(self, self._all_states(), num_events)


def _outcome(fleet: Fleet, states: list[ReqState], num_events: int) -> FleetOutcome:
    unfinished = any(s.status not in (FINISHED, DROPPED) for s in states)
    if fleet.horizon_s is not None and unfinished:
        end = fleet.horizon_s
    else:
        end = max((st.finish_s for st in states if st.finish_s is not None),
                  default=fleet.sim.now)
    itl: dict[str, LogHistogram] = {}
    pre: dict[str, int] = {}
    for life in fleet.lives:
        hist = itl.setdefault(life.service, LogHistogram())
        for i, w in life.replica.itl.bins.items():
            hist.bins[i] = hist.bins.get(i, 0.0) + w
        hist.total += life.replica.itl.total
        pre[life.service] = pre.get(life.service, 0) + life.replica.num_preemptions
    return FleetOutcome(states=states, lives=fleet.lives, timelines=fleet.timelines,
                        itl=itl, end_s=end, num_events=num_events, num_preemptions=pre)


def _arrival_order(requests: Sequence[LlmRequest],
                   subset: Sequence[int] | None = None) -> Sequence[int]:
    """Indices (of ``subset``, default all) by (arrival + pre-delay, index): stable;
    ``range`` when all are already sorted."""
    if subset is not None:
        return sorted(subset, key=lambda i: requests[i].arrival_time_s
                      + requests[i].pre_delay_s)
    n = len(requests)
    t = np.fromiter((r.arrival_time_s + r.pre_delay_s for r in requests), np.float64, n)
    if n < 2 or bool(np.all(t[1:] >= t[:-1])):
        return range(n)
    order: list[int] = np.argsort(t, kind="stable").tolist()
    return order
