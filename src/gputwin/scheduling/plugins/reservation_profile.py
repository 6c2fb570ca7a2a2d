"""The free-GPU profile of conservative backfill
(:mod:`gputwin.scheduling.plugins.backfill_conservative`): a step function of time,
``avail[i]`` free GPUs (by count) on ``[times[i], times[i+1])`` with ``times[0]`` = now,
the earliest window a job fits in and the reservations that take capacity away.

Pure functions, in two forms that give the same results: on NumPy arrays (the reference
walk; :func:`reserve` returns new arrays) and on Python lists kept sorted with ``bisect``
(the walk with the framework's shortcuts; :func:`reserve_lists` changes them in place).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

import numpy as np

from gputwin.scheduling.api import QueuedJob


def earliest(times: np.ndarray, avail: np.ndarray, need: int, dur: float,
             not_before: float) -> float:
    """Earliest ``t >= not_before`` with ``avail >= need`` throughout ``[t, t + dur)``;
    candidates are ``not_before`` and the later profile steps (where capacity grows)."""
    i0 = max(0, int(np.searchsorted(times, not_before, side="right")) - 1)
    later = np.flatnonzero(avail[i0 + 1:] >= need) + i0 + 1
    for i, t0 in [(i0, not_before), *((int(k), float(times[k])) for k in later)]:
        j = int(np.searchsorted(times, t0 + dur, side="left"))
        if avail[i:max(j, i + 1)].min() >= need:
            return t0
    return math.inf


def reserve(times: np.ndarray, avail: np.ndarray, t0: float, t1: float,
            need: int) -> tuple[np.ndarray, np.ndarray]:
    """Subtract ``need`` GPUs from the profile over ``[t0, t1)`` (inserting steps)."""
    for t in (t0, t1):
        i = int(np.searchsorted(times, t, side="right")) - 1
        if i < 0 or times[i] != t:
            base = avail[i] if i >= 0 else avail[0]
            times = np.insert(times, i + 1, t)
            avail = np.insert(avail, i + 1, base)
    mask = (times >= t0) & (times < t1)
    avail = avail.copy()
    avail[mask] -= need
    return times, avail


def earliest_lists(times: list[float], avail: list[int], need: int, dur: float,
                   not_before: float) -> float:
    """:func:`earliest` on lists, same result. A candidate start whose window
    ``[t, t + dur)`` holds a step ``b`` short of GPUs fails, and so does every later
    candidate before ``b`` (its window starts later, so it reaches ``b`` too): the next
    candidate to try is the first step after ``b`` with enough GPUs."""
    n = len(times)
    i = max(0, bisect.bisect_right(times, not_before) - 1)
    t0 = not_before
    while True:
        j = max(bisect.bisect_left(times, t0 + dur), i + 1)
        if min(avail[i:j]) >= need:  # the whole window holds (the common case, in C)
            return t0
        b = i
        while avail[b] >= need:  # a short step exists in [i, min(j, n))
            b += 1
        i = b + 1
        while i < n and avail[i] < need:
            i += 1
        if i >= n:
            return math.inf
        t0 = times[i]


def reserve_lists(times: list[float], avail: list[int], t0: float, t1: float,
                  need: int) -> None:
    """:func:`reserve` in place on lists (``bisect`` instead of ``np.insert``)."""
    for t in (t0, t1):
        i = bisect.bisect_right(times, t) - 1
        if i < 0 or times[i] != t:
            base = avail[i] if i >= 0 else avail[0]
            times.insert(i + 1, t)
            avail.insert(i + 1, base)
    lo, hi = bisect.bisect_left(times, t0), bisect.bisect_left(times, t1)
    avail[lo:hi] = [v - need for v in avail[lo:hi]]


def last_startable(times: list[float], avail: list[int], rest: Sequence[QueuedJob],
                   now: float, first: int) -> int:
    """1 + the index in ``rest`` (from ``first`` on) of the last job that could start
    now by count (``avail >= need`` on every step of ``[now, now + dur)``, the test of
    :func:`earliest_lists` at ``now``); ``first`` when none can. Capacity only shrinks
    as the walk reserves, so jobs after that index can neither start nor change a start."""
    lows = list(itertools.accumulate(avail, min))
    last = first - 1
    for k in range(first, len(rest)):
        q = rest[k]
        j = max(bisect.bisect_left(times, now + max(q.est_runtime_s, 1e-9)), 1)
        if lows[j - 1] >= q.spec.num_gpus:
            last = k
    return last + 1
