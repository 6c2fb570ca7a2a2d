"""Periodic ticks (timeline samples, autoscaler evaluations) across quiet stretches.

While no replica is inside a step, nothing a tick reads changes until the next event, so
the ticks in between repeat the one before them. The fleet then puts its next tick at the
last point of the tick grid before that event (:func:`skip_to`). A sample skips once it
repeats the sample before it (so the output rate it shows, 0, holds over the gap): the
samples left out would have repeated it, and the timelines, read as step functions, are
unchanged. An autoscaler skips once it is steady (``quiet_ticks.steady``): the tick before
the event reads the same utilization span and scale-down window as it would have. The
work grows with the events, not with the simulated span (a trace of two requests ten
years apart, an arrival rate of 1e-30/s).
"""

from __future__ import annotations

import math
from collections.abc import Callable

#: ticks walked one by one (the same float additions as ticking); closed form beyond
_MAX_WALK = 10_000


def after(now_s: float, interval_s: float) -> float:
    """``now_s + interval_s``, or the next float after ``now_s`` where the interval
    vanishes next to it (huge times): a periodic tick always moves the clock on."""
    nxt = now_s + interval_s
    return nxt if nxt > now_s else math.nextafter(now_s, math.inf)


def skip_to(now_s: float, event_s: float | None,
            interval_at: Callable[[float], float]) -> float | None:
    """The last tick before ``event_s`` of the grid ``t0 = now_s``, ``t[k+1] = t[k] +
    interval_at(t[k])``; ``None`` when that is the very next tick (nothing to skip) or
    there is no event. Where the floats at these times are coarser than the interval,
    ``event_s`` itself (a tick fires after the arrivals of its instant)."""
    if event_s is None:
        return None
    first = after(now_s, interval_at(now_s))
    t, interval = first, interval_at(first)
    for _ in range(_MAX_WALK):
        nxt = after(t, interval)
        if nxt >= event_s:
            return t if t > first else None
        t, interval = nxt, interval_at(nxt)
    # far from the event: the rest in closed form (the interval has stopped growing)
    last = t + math.floor((event_s - t) / interval) * interval
    if last >= event_s:
        last -= interval
    return last if t <= last < event_s else event_s
