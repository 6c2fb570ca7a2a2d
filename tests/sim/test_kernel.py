"""Event kernel: total order, cancellation, run bounds, observers, errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputwin.sim import EventHandle, SimulationError, Simulator


def _recorder(sim: Simulator, log: list[tuple[float, str]], label: str):  # type: ignore[no-untyped-def]
    return lambda: log.append((sim.now, label))


def test_fires_in_time_then_priority_then_fifo_order() -> None:
    sim = Simulator()
    log: list[tuple[float, str]] = []
    sim.schedule_at(2.0, _recorder(sim, log, "t2"))
    sim.schedule_at(1.0, _recorder(sim, log, "t1-p0-first"))
    sim.schedule_at(1.0, _recorder(sim, log, "t1-p-1"), priority=-1)
    sim.schedule_at(1.0, _recorder(sim, log, "t1-p0-second"))
    sim.schedule_at(1.0, _recorder(sim, log, "t1-p5"), priority=5)
    assert sim.run() == 5
    assert [label for _, label in log] == ["t1-p-1", "t1-p0-first", "t1-p0-second", "t1-p5", "t2"]
    assert sim.now == 2.0


def test_schedule_in_is_relative_to_now() -> None:
    sim = Simulator(start_s=10.0)
    seen: list[float] = []
    sim.schedule_in(5.0, lambda: seen.append(sim.now))
    sim.run()
    assert seen == [15.0]


def test_cancelled_events_never_fire() -> None:
    sim = Simulator()
    log: list[tuple[float, str]] = []
    keep = sim.schedule_at(1.0, _recorder(sim, log, "keep"))
    drop = sim.schedule_at(2.0, _recorder(sim, log, "drop"))
    assert sim.num_pending == 2
    assert sim.cancel(drop) is True
    assert sim.cancel(drop) is False  # second cancel is a no-op
    assert sim.num_pending == 1
    assert sim.run() == 1
    assert log == [(1.0, "keep")]
    assert not keep.pending and not keep.cancelled
    assert drop.cancelled and not drop.pending
    assert sim.cancel(keep) is False  # already fired
    assert sim.now == 1.0  # the cancelled event does not move the clock


def test_a_callback_can_cancel_a_later_event() -> None:
    sim = Simulator()
    fired: list[str] = []
    later = sim.schedule_at(5.0, lambda: fired.append("later"))
    sim.schedule_at(1.0, lambda: sim.cancel(later))
    sim.run()
    assert fired == []


def test_many_cancellations_compact_the_heap() -> None:
    sim = Simulator()
    handles = [sim.schedule_at(float(i), lambda: None) for i in range(10_000)]
    for h in handles[:9_000]:
        sim.cancel(h)
    assert sim.num_pending == 1_000
    assert len(sim._heap) < 10_000  # compacted at least once
    assert sim.run() == 1_000


def test_run_until_is_inclusive_and_leaves_clock_at_bound() -> None:
    sim = Simulator()
    seen: list[float] = []
    for t in (1.0, 2.0, 3.0, 4.0):
        sim.schedule_at(t, lambda: seen.append(sim.now))
    assert sim.run(until_s=3.0) == 3
    assert seen == [1.0, 2.0, 3.0]
    assert sim.now == 3.0
    assert sim.run(until_s=3.5) == 0
    assert sim.now == 3.5
    assert sim.peek() == 4.0
    assert sim.run() == 1 and sim.now == 4.0


def test_run_until_with_empty_queue_advances_clock() -> None:
    sim = Simulator()
    assert sim.run(until_s=100.0) == 0
    assert sim.now == 100.0


def test_max_events_and_step() -> None:
    sim = Simulator()
    for t in range(10):
        sim.schedule_at(float(t), lambda: None)
    assert sim.run(max_events=3) == 3
    assert sim.now == 2.0
    assert sim.run(until_s=100.0, max_events=2) == 2
    assert sim.now == 4.0  # cut short by max_events: the clock stays at the last event
    assert sim.step() is True and sim.now == 5.0
    assert sim.run(max_events=0) == 0
    assert sim.run() == 4
    assert sim.step() is False


def test_stop_from_a_callback() -> None:
    sim = Simulator()
    sim.schedule_at(1.0, sim.stop)
    sim.schedule_at(2.0, lambda: None)
    assert sim.run(until_s=10.0) == 1
    assert sim.now == 1.0
    assert sim.run() == 1


def test_peek_skips_cancelled() -> None:
    sim = Simulator()
    assert sim.peek() is None
    first = sim.schedule_at(1.0, lambda: None)
    sim.schedule_at(2.0, lambda: None)
    sim.cancel(first)
    assert sim.peek() == 2.0
    assert sim.num_pending == 1


def test_peek_excluding_leaves_out_the_given_and_cancelled_events() -> None:
    sim = Simulator()
    tick = sim.schedule_at(1.0, lambda: None)
    gone = sim.schedule_at(2.0, lambda: None)
    sim.schedule_at(3.0, lambda: None)
    sim.cancel(gone)
    assert sim.peek_excluding(()) == 1.0
    assert sim.peek_excluding({tick}) == 3.0
    sim.run()
    assert sim.peek_excluding(()) is None


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_times_raise(bad: float) -> None:
    sim = Simulator(start_s=0.0)
    with pytest.raises(SimulationError):
        sim.schedule_at(bad, lambda: None)
    with pytest.raises(SimulationError):
        sim.schedule_in(bad, lambda: None)


def test_scheduling_in_the_past_from_a_callback_raises() -> None:
    sim = Simulator()
    sim.schedule_at(5.0, lambda: sim.schedule_at(4.0, lambda: None))
    with pytest.raises(SimulationError, match="must be finite and >= now"):
        sim.run()


def test_bad_run_bounds_raise() -> None:
    sim = Simulator(start_s=5.0)
    with pytest.raises(SimulationError):
        sim.run(until_s=1.0)
    with pytest.raises(SimulationError):
        sim.run(until_s=math.nan)
    with pytest.raises(SimulationError):
        sim.run(max_events=-1)
    with pytest.raises(SimulationError):
        Simulator(start_s=math.inf)


def test_callback_errors_propagate() -> None:
    sim = Simulator()

    def boom() -> None:
        raise RuntimeError("model bug")

    sim.schedule_at(1.0, boom)
    with pytest.raises(RuntimeError, match="model bug"):
        sim.run()


def test_observers_see_every_fired_event_and_can_be_removed() -> None:
    sim = Simulator()
    seen: list[tuple[float, int]] = []

    def observer(time_s: float, handle: EventHandle) -> None:
        seen.append((time_s, handle.sequence))

    sim.add_observer(observer)
    a = sim.schedule_at(1.0, lambda: None)
    b = sim.schedule_at(2.0, lambda: None)
    c = sim.schedule_at(3.0, lambda: None)
    sim.cancel(b)
    sim.run(until_s=1.5)
    sim.remove_observer(observer)
    sim.run()
    assert seen == [(1.0, a.sequence)]
    assert not c.pending


times = st.lists(
    st.tuples(st.floats(0, 1e6, allow_nan=False), st.integers(-2, 2)), min_size=1, max_size=200
)


@given(times)
def test_property_total_order(events: list[tuple[float, int]]) -> None:
    """Fired order is sorted by (time, priority, scheduling order)."""
    sim = Simulator()
    fired: list[tuple[float, int, int]] = []
    for index, (t, prio) in enumerate(events):
        sim.schedule_at(t, (lambda t=t, p=prio, i=index: fired.append((t, p, i))), priority=prio)
    sim.run()
    assert fired == sorted(fired)
    assert len(fired) == len(events)


@given(times, st.sets(st.integers(0, 199)))
def test_property_cancelled_subset_never_fires(
    events: list[tuple[float, int]], to_cancel: set[int]
) -> None:
    sim = Simulator()
    fired: list[int] = []
    handles = [
        sim.schedule_at(t, (lambda i=i: fired.append(i)), priority=p)
        for i, (t, p) in enumerate(events)
    ]
    for i in to_cancel:
        if i < len(handles):
            sim.cancel(handles[i])
    count = sim.run()
    expected = [i for i in range(len(events)) if i not in to_cancel]
    assert sorted(fired) == expected and count == len(expected)


def test_deterministic_replay() -> None:
    def trace() -> list[tuple[float, int]]:
        sim = Simulator()
        out: list[tuple[float, int]] = []

        def spawn(depth: int) -> None:
            out.append((sim.now, depth))
            if depth < 6:
                sim.schedule_in(1.0, lambda: spawn(depth + 1))
                sim.schedule_in(1.0, lambda: spawn(depth + 1))

        sim.schedule_at(0.0, lambda: spawn(0))
        sim.run()
        return out

    first = trace()
    assert first == trace()
    assert len(first) == 2**7 - 1


def test_compaction_inside_a_callback_keeps_time_order() -> None:
    """A callback that cancels enough events to compact the heap, then schedules more: the
    run in progress must keep firing from the compacted heap in time order (it once kept
    popping a stale copy, so later events fired before earlier new ones and the cancelled
    counter went negative)."""
    sim = Simulator()
    fired: list[float] = []
    doomed = [sim.schedule_at(1000.0 + i, lambda: None) for i in range(10_000)]
    for t in (2000.0, 3000.0):
        sim.schedule_at(t, lambda: fired.append(sim.now))

    def purge() -> None:
        for h in doomed:
            sim.cancel(h)  # compacts the heap while run() is inside this callback
        sim.schedule_at(1500.0, lambda: fired.append(sim.now))

    sim.schedule_at(10.0, purge)
    sim.run()
    assert fired == [1500.0, 2000.0, 3000.0]
    assert sim.num_pending == 0 and sim._num_cancelled == 0
