"""The free-GPU profile of conservative backfill (scheduling/plugins/reservation_profile.py):
the list forms give the NumPy forms' results, a reservation takes exactly its GPUs over
exactly its window, and the earliest start is a fit that no earlier candidate gives."""

from __future__ import annotations

import bisect
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.scheduling.plugins.reservation_profile import (
    earliest,
    earliest_lists,
    reserve,
    reserve_lists,
)


@st.composite
def profiles(draw: st.DrawFn) -> tuple[list[float], list[int]]:
    """A step profile from now (0): distinct sorted step times, GPUs free on each step."""
    gaps = draw(st.lists(st.integers(1, 50), min_size=0, max_size=12))
    times = [0.0]
    for g in gaps:
        times.append(times[-1] + float(g))
    avail = draw(st.lists(st.integers(-4, 16), min_size=len(times), max_size=len(times)))
    return times, avail


def _at(times: list[float], avail: list[int], t: float) -> int:
    return avail[bisect.bisect_right(times, t) - 1]


def _fits(times: list[float], avail: list[int], need: int, t0: float, dur: float) -> bool:
    """``need`` GPUs free on every step that overlaps ``[t0, t0 + dur)``."""
    lo = bisect.bisect_right(times, t0) - 1
    hi = max(bisect.bisect_left(times, t0 + dur), lo + 1)
    return min(avail[lo:hi]) >= need


@settings(max_examples=300, deadline=None)
@given(profiles(), st.integers(1, 16), st.integers(1, 120), st.integers(0, 300))
def test_earliest_start(profile: tuple[list[float], list[int]], need: int, dur: int,
                        not_before: int) -> None:
    times, avail = profile
    start = earliest_lists(times, avail, need, float(dur), float(not_before))
    assert start == earliest(np.array(times), np.array(avail, dtype=np.int64), need,
                             float(dur), float(not_before))
    candidates = [float(not_before), *(t for t in times if t > not_before)]
    fitting = [t for t in candidates if _fits(times, avail, need, t, float(dur))]
    assert start == (fitting[0] if fitting else math.inf)


@settings(max_examples=300, deadline=None)
@given(profiles(), st.integers(1, 8), st.integers(0, 300), st.integers(1, 120))
def test_reserve_takes_its_gpus_over_its_window(profile: tuple[list[float], list[int]],
                                                need: int, t0: int, dur: int) -> None:
    times, avail = profile
    t1 = float(t0 + dur)
    arrays = reserve(np.array(times), np.array(avail, dtype=np.int64), float(t0), t1, need)
    new_times, new_avail = list(times), list(avail)
    reserve_lists(new_times, new_avail, float(t0), t1, need)
    assert new_times == arrays[0].tolist() and new_avail == arrays[1].tolist()
    for t in {*times, *new_times, t0 - 0.5, t1 - 0.5, t1 + 0.5}:
        if t >= 0:
            taken = need if t0 <= t < t1 else 0
            assert _at(new_times, new_avail, t) == _at(times, avail, t) - taken
