"""The discrete-event kernel: a simulated clock and a totally ordered event queue.

Events fire in the order ``(time_s, priority, sequence)``: earlier time first, then lower
``priority``, then the order in which they were scheduled (``sequence`` comes from a
counter, so ties are FIFO and the order is deterministic across runs and machines).

Callbacks are plain zero-argument callables (bind arguments with a closure or
:func:`functools.partial`); there are no generator processes, so a live simulation can be
inspected and stepped from outside. Cancellation is lazy: a cancelled event stays in the
heap until it reaches the top and is then dropped without firing.

Errors that are bugs in the caller (scheduling in the past, NaN or infinite times) raise
:class:`SimulationError`; the kernel never lets them pass silently.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection

from gputwin.errors import GputwinError

Callback = Callable[[], object]
#: An observer is told ``(time_s, handle)`` just before each event's callback runs.
Observer = Callable[[float, "EventHandle"], object]

_INF = math.inf
#: Rebuild the heap when more than this many cancelled entries are waiting inside it and
#: they are the majority (keeps memory bounded when a model cancels a lot, e.g. timeouts).
_COMPACT_MIN = 4096


class SimulationError(GputwinError):
    """Misuse of the event kernel (a bug in the model, not bad user input)."""


class EventHandle:
    """A scheduled event. ``callback`` becomes ``None`` once it fired or was cancelled."""

    __slots__ = ("callback", "cancelled", "priority", "sequence", "time_s")

    def __init__(self, time_s: float, priority: int, sequence: int, callback: Callback) -> None:
        self.time_s = time_s
        self.priority = priority
        self.sequence = sequence
        self.callback: Callback | None = callback
        self.cancelled = False

    @property
    def pending(self) -> bool:
        """True until the event fires or is cancelled."""
        return self.callback is not None

    def __repr__(self) -> str:
        state = "pending" if self.callback else ("cancelled" if self.cancelled else "fired")
        return f"EventHandle(t={self.time_s!r}, prio={self.priority}, seq={self.sequence}, {state})"


class Simulator:
    """Clock plus event queue.

    ``now`` is the simulated time in seconds (starts at ``start_s``, default 0). All
    scheduling methods return an :class:`EventHandle` usable with :meth:`cancel`.
    """

    __slots__ = ("_heap", "_num_cancelled", "_observers", "_sequence", "_stop", "now")

    def __init__(self, start_s: float = 0.0) -> None:
        if not math.isfinite(start_s):
            raise SimulationError(f"start time must be finite, got {start_s!r}")
        self.now: float = float(start_s)
        self._heap: list[tuple[float, int, int, EventHandle]] = []
        self._sequence = 0
        self._num_cancelled = 0  # cancelled entries still inside the heap
        self._observers: list[Observer] = []
        self._stop = False

    # -- scheduling -------------------------------------------------------------------------

    def schedule_at(self, time_s: float, callback: Callback, priority: int = 0) -> EventHandle:
        """Fire ``callback`` at absolute time ``time_s`` (>= ``now``; lower priority first).

        Raises :class:`SimulationError` for times in the past, NaN or infinity.
        """
        # One chained comparison rejects the past, NaN (all comparisons false) and +inf.
        if not (self.now <= time_s < _INF):
            raise SimulationError(
                f"cannot schedule at t={time_s!r}: must be finite and >= now ({self.now!r})"
            )
        seq = self._sequence
        self._sequence = seq + 1
        handle = EventHandle(time_s, priority, seq, callback)
        heapq.heappush(self._heap, (time_s, priority, seq, handle))
        return handle

    def schedule_in(self, delay_s: float, callback: Callback, priority: int = 0) -> EventHandle:
        """Fire ``callback`` after ``delay_s`` (>= 0) seconds of simulated time."""
        if not (0.0 <= delay_s < _INF):
            raise SimulationError(f"delay must be finite and >= 0, got {delay_s!r}")
        return self.schedule_at(self.now + delay_s, callback, priority)

    def cancel(self, handle: EventHandle) -> bool:
        """Cancel a pending event; returns False if it already fired or was cancelled."""
        if handle.callback is None:
            return False
        handle.callback = None
        handle.cancelled = True
        self._num_cancelled += 1
        if self._num_cancelled > _COMPACT_MIN and 2 * self._num_cancelled > len(self._heap):
            self._compact()
        return True

    def _compact(self) -> None:
        # In place: a run loop in progress holds this list (a cancel inside a callback may
        # compact it), so rebinding self._heap would leave that loop on a stale copy.
        heap = self._heap
        heap[:] = [e for e in heap if e[3].callback is not None]
        heapq.heapify(heap)
        self._num_cancelled = 0

    # -- observers --------------------------------------------------------------------------

    def add_observer(self, observer: Observer) -> None:
        """Call ``observer(time_s, handle)`` before every fired event (tracing, logging)."""
        self._observers.append(observer)

    def remove_observer(self, observer: Observer) -> None:
        self._observers.remove(observer)

    # -- inspection -------------------------------------------------------------------------

    @property
    def num_pending(self) -> int:
        """Events scheduled and not yet fired or cancelled."""
        return len(self._heap) - self._num_cancelled

    def peek(self) -> float | None:
        """Time of the next event that will fire, or ``None`` when there is none."""
        heap = self._heap
        while heap and heap[0][3].callback is None:
            heapq.heappop(heap)
            self._num_cancelled -= 1
        return heap[0][0] if heap else None

    def peek_excluding(self, skip: Collection[EventHandle]) -> float | None:
        """Time of the next event that will fire other than those in ``skip`` (e.g. a
        model's own periodic ticks), or ``None``. Scans the queue: for occasional use."""
        return min((e[0] for e in self._heap if e[3].callback is not None
                    and e[3] not in skip), default=None)

    # -- running ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Make the current :meth:`run` return after the event being fired."""
        self._stop = True

    def step(self) -> bool:
        """Fire the next event; returns False (and leaves the clock alone) if there is none."""
        return self.run(max_events=1) == 1

    def run(self, until_s: float | None = None, max_events: int | None = None) -> int:
        """Fire events in order; returns how many fired.

        Stops when the queue is empty, after ``max_events`` events, on :meth:`stop`, or
        before the first event later than ``until_s`` (events *at* ``until_s`` fire). When
        ``until_s`` is given and the run was not cut short by ``max_events``/``stop``, the
        clock ends at ``until_s``. A callback that raises propagates out of ``run``; the
        clock is then at that event's time and the event counts as fired.
        """
        if until_s is not None and not (self.now <= until_s < _INF):
            raise SimulationError(f"until_s must be finite and >= now ({self.now!r}), "
                                  f"got {until_s!r}")
        if max_events is not None and max_events < 0:
            raise SimulationError(f"max_events must be >= 0, got {max_events}")
        limit = _INF if until_s is None else until_s
        budget = -1 if max_events is None else max_events
        self._stop = False
        fired = (self._run_observed(limit, budget) if self._observers
                 else self._run_fast(limit, budget))
        if until_s is not None and fired != budget and not self._stop:
            self.now = until_s
        self._stop = False
        return fired

    def _run_fast(self, limit: float, budget: int) -> int:
        heap = self._heap
        pop = heapq.heappop
        fired = 0
        while heap and fired != budget:
            entry = heap[0]
            time_s = entry[0]
            if time_s > limit:
                break
            pop(heap)
            handle = entry[3]
            callback = handle.callback
            if callback is None:
                self._num_cancelled -= 1
                continue
            handle.callback = None
            self.now = time_s
            fired += 1
            callback()
            if self._stop:
                break
        return fired

    def _run_observed(self, limit: float, budget: int) -> int:
        heap = self._heap
        fired = 0
        while heap and fired != budget:
            entry = heap[0]
            time_s = entry[0]
            if time_s > limit:
                break
            heapq.heappop(heap)
            handle = entry[3]
            callback = handle.callback
            if callback is None:
                self._num_cancelled -= 1
                continue
            self.now = time_s
            for observer in tuple(self._observers):
                observer(time_s, handle)
            handle.callback = None
            fired += 1
            callback()
            if self._stop:
                break
        return fired
