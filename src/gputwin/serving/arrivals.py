"""A serving fleet's requests on their way in.

Open-loop requests arrive in time order (arrival plus pre-delay; one event pending at a
time); closed-loop clients (:mod:`gputwin.serving.closed_loop`) send theirs as earlier
ones complete. With a ``dispatch`` (runs across sites) each request reaches the service
(site group) the dispatcher picks after that route's network delay, in transit until
then. Each request's state is created when it arrives; :meth:`Arrivals.all_states` gives
the rest a fresh state at the end. What arrives goes to its service's entry pool through
the fleet's ``route`` (called directly: one call per arrival, as on the fleet itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from gputwin.serving.closed_loop import ClosedLoop, ClosedLoopClients
from gputwin.serving.fleet_spec import Dispatch
from gputwin.serving.pool import Pool
from gputwin.serving.request import ReqState
from gputwin.sim.kernel import Simulator
from gputwin.workload.llm_request import LlmRequest

#: kernel priority of arrivals and hand-offs: before the replica step ends of an instant
PRIORITY_ARRIVAL = 0


class Arrivals:
    """The requests still to come, those in transit, and every arrived request's state."""

    def __init__(self, requests: Sequence[LlmRequest], sim: Simulator,
                 route: Callable[[Pool, ReqState, float], None], entry: Mapping[str, Pool],
                 *, dispatch: Dispatch | None,
                 closed_loops: Mapping[int, ClosedLoop] | None) -> None:
        self.requests = requests
        self.sim = sim
        self._route = route  # the fleet's router call
        self._entry = entry  # service -> its entry pool (filled by the fleet)
        # request states are created at arrival (fewer live objects, cheaper set-up)
        self.states: list[ReqState | None] = [None] * len(requests)
        self.clients: ClosedLoopClients | None = None
        if closed_loops:
            self.clients = ClosedLoopClients(requests, closed_loops, self._send_closed)
            self._order = arrival_order(requests, self.clients.open_indices)
        else:
            self._order = arrival_order(requests)
        self._next = 0
        self._dispatch = dispatch
        self._index_of: dict[int, int] | None = None  # request id -> index (resubmit)
        self._arrive_cb = self._arrive if dispatch is None else self._arrive_dispatched
        self.in_transit = 0  # dispatched requests on their way (network delay)

    @property
    def busy(self) -> bool:
        """Requests still to arrive or in transit, or closed-loop clients still sending."""
        if self._next < len(self._order) or self.in_transit:
            return True
        return self.clients is not None and self.clients.busy

    def start(self) -> None:
        """Put the first open-loop arrival and the clients' first sends on the kernel."""
        self._schedule_next()
        if self.clients is not None:
            self.clients.start()

    def _schedule_next(self) -> None:
        if self._next < len(self._order):
            spec = self.requests[self._order[self._next]]
            self.sim.schedule_at(spec.arrival_time_s + spec.pre_delay_s, self._arrive_cb,
                                 PRIORITY_ARRIVAL)

    def _take(self) -> int:
        """The index of the request arriving now; schedules the next arrival."""
        i = self._order[self._next]
        self._next += 1
        self._schedule_next()
        return i

    def _arrive(self) -> None:
        i = self._take()
        spec = self.requests[i]
        state = self.states[i] = ReqState(spec, spec.num_output_tokens)
        self._route(self._entry[spec.service], state, self.sim.now)

    def _arrive_dispatched(self) -> None:
        """An arrival whose service (site group) and network delay ``dispatch`` decides:
        the request reaches that group's router ``delay`` seconds later (in transit until
        then: counted in flight at the horizon)."""
        i = self._take()
        self._dispatched(i, self.requests[i], self.sim.now)

    def _dispatched(self, i: int, spec: LlmRequest, now: float) -> None:
        assert self._dispatch is not None
        spec, delay = self._dispatch(spec, now)
        state = self.states[i] = ReqState(spec, spec.num_output_tokens)
        self.in_transit += 1
        self.sim.schedule_at(now + delay, lambda: self._deliver(state), PRIORITY_ARRIVAL)

    def _send_closed(self, i: int, at_s: float) -> None:
        self.sim.schedule_at(at_s, lambda: self._arrive_closed(i), PRIORITY_ARRIVAL)

    def _arrive_closed(self, i: int) -> None:
        """A closed-loop client sends request ``i`` now (its arrival time is now)."""
        now = self.sim.now
        spec = replace(self.requests[i], arrival_time_s=now)
        if self._dispatch is not None:
            self._dispatched(i, spec, now)
            return
        state = self.states[i] = ReqState(spec, spec.num_output_tokens)
        self._route(self._entry[spec.service], state, now)

    def _deliver(self, state: ReqState) -> None:
        self.in_transit -= 1
        self._route(self._entry[state.spec.service], state, self.sim.now)

    def resubmit(self, state: ReqState) -> None:
        """Send ``state`` to the router again now (a fault took its replica): to its own
        service, or, when dispatched (sites), to the group the dispatcher picks now,
        after that route's network delay."""
        now = self.sim.now
        if self._dispatch is None:
            self._route(self._entry[state.spec.service], state, now)
            return
        if self._index_of is None:
            self._index_of = {r.request_id: i for i, r in enumerate(self.requests)}
        base = self.requests[self._index_of[state.rid]]
        if base.closed_loop >= 0:  # sent by a client: keep the time it was sent
            base = replace(base, arrival_time_s=state.spec.arrival_time_s)
        spec, delay = self._dispatch(base, now)
        state.spec = spec
        self.in_transit += 1
        self.sim.schedule_at(now + delay, lambda: self._deliver(state), PRIORITY_ARRIVAL)

    def all_states(self) -> list[ReqState]:
        """Every request's state (those that never arrived: fresh, waiting)."""
        states = self.states
        for i, st in enumerate(states):
            if st is None:
                spec = self.requests[i]
                states[i] = ReqState(spec, output=spec.num_output_tokens)
        return states  # type: ignore[return-value]


def arrival_order(requests: Sequence[LlmRequest],
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
