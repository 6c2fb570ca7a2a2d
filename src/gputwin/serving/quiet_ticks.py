"""When a fleet's periodic ticks (timeline samples, autoscaler evaluations) fire: every
interval, or, while the fleet is quiet (no replica inside a step), at the last tick of
their grid before the next event (:mod:`gputwin.serving.ticks`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from gputwin.serving.autoscaler import AutoscalerSpec, desired_replicas
from gputwin.serving.fleet_outcome import ServiceTimeline
from gputwin.serving.pool import Pool
from gputwin.serving.ticks import after, skip_to
from gputwin.sim.kernel import EventHandle, Simulator


class QuietTicks:
    """Holds the pending sample and the autoscaler ticks a skip put just before an event,
    which the search for the next event looks past."""

    __slots__ = ("sample", "sim", "steady")

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.sample: EventHandle | None = None
        self.steady: dict[int, EventHandle] = {}  # pool id -> its skipped-to tick

    def sample_at(self, now: float, interval_at: Callable[[float], float],
                  timelines: Iterable[ServiceTimeline], pools: Sequence[Pool],
                  skip: bool) -> float:
        """The next sample's time. A sample that repeats the one before in every
        service (the output rate it shows, 0, holds over the gap) may skip while quiet."""
        skip_s = (skip_to(now, self.next_event_s(), interval_at)
                  if skip and all(tl.repeated() for tl in timelines) and quiet(pools)
                  else None)
        return after(now, interval_at(now)) if skip_s is None else skip_s

    def autoscale_at(self, now: float, pool: Pool, spec: AutoscalerSpec,
                     pools: Sequence[Pool], skip: bool) -> tuple[float, bool]:
        """The pool's next autoscaler tick and whether it skipped (a steady pool's ticks
        keep its replica count while the fleet stays quiet)."""
        skip_s = None
        if skip and quiet(pools) and steady(pool, spec):
            skip_s = skip_to(now, self.next_event_s(), lambda _: spec.interval_s)
        return (after(now, spec.interval_s), False) if skip_s is None else (skip_s, True)

    def next_event_s(self) -> float | None:
        """The next event's time, not counting the ticks that change nothing while the
        fleet is quiet: the next sample and the steady autoscaler ticks."""
        ignore = set(self.steady.values())
        if self.sample is not None:
            ignore.add(self.sample)
        return self.sim.peek_excluding(ignore)


def quiet(pools: Sequence[Pool]) -> bool:
    """No replica is inside a step, so nothing a tick reads changes until the next event."""
    return not any(rep.in_step for p in pools for rep in p.alive)


def steady(pool: Pool, spec: AutoscalerSpec) -> bool:
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
