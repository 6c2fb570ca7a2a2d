"""Conservative backfill (Mu'alem & Feitelson 2001), the ``mode: conservative`` walk of
``queueing/backfill`` (:mod:`gputwin.scheduling.plugins.backfill`).

Every blocked job in the window gets a reservation on a profile of free GPUs over time
(from the expected releases of the running jobs), and a job may start now only if it fits
and delays none of the reservations before it. The walk on Python lists
(:meth:`ConservativeBackfill._walk_lists`, used with the framework's shortcuts) makes the
same decisions as the NumPy one and can reuse the last walk when only new jobs arrived.
This module walks the queue and builds the profile from the running jobs; the profile's
own arithmetic (earliest fit, reservations) is
:mod:`gputwin.scheduling.plugins.reservation_profile`.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gputwin.scheduling.api import CycleState, QueuedJob
from gputwin.scheduling.plugins.queueing import attempt
from gputwin.scheduling.plugins.reservation_profile import (
    earliest,
    earliest_lists,
    last_startable,
    reserve,
    reserve_lists,
)
from gputwin.scheduling.status import Code, Status

if TYPE_CHECKING:
    from gputwin.scheduling.framework import Framework


class ConservativeBackfill:
    """The conservative walk and what it keeps between cycles: the release steps of the
    running set and the last walk's profile (:class:`_Carry`)."""

    def __init__(self, max_job_test: int) -> None:
        self.max_job_test = max_job_test
        #: release steps for (framework version, snapshot version)
        self._steps: tuple[tuple[int, int], list[float], list[int]] | None = None
        #: what the last walk left, for cycles with only new arrivals
        self._carry: _Carry | None = None

    def walk(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        """One cycle's walk: start jobs in order until one is blocked, then reserve each
        blocked job and start the others that delay no reservation."""
        if fw.shortcuts:
            self._walk_lists(fw, order, state)
            return
        now = state.now_s
        profile: tuple[np.ndarray, np.ndarray] | None = None
        for tried, job in enumerate(order):
            if tried >= self.max_job_test:
                break
            failed_now = False
            if profile is None:  # no reservation yet: start in order while jobs fit
                status = attempt(fw, job, state)
                if status.ok or status.code == Code.REJECT:
                    continue
                profile = self._profile(fw, state)  # includes this cycle's starts
                failed_now = True
            times, avail = profile
            need = job.spec.num_gpus
            dur = max(job.est_runtime_s, 1e-9)
            start = earliest(times, avail, need, dur, now)
            if start <= now:
                status = Status.unschedulable("") if failed_now else attempt(fw, job, state)
                if status.ok:
                    profile = reserve(times, avail, now, now + dur, need)
                    continue
                # fits by count but not by shape: reserve from the next release on
                nxt = times[times > now]
                start = earliest(times, avail, need, dur, float(nxt[0])) if nxt.size else math.inf
            if math.isfinite(start):
                profile = reserve(times, avail, start, start + dur, need)
                job.reason = f"reserved: expected start in {start - now:.0f} s"
            else:
                job.reason = "no reservation possible (exceeds capacity)"

    def _walk_lists(self, fw: Framework, order: Iterator[QueuedJob],
                    state: CycleState) -> None:
        """:meth:`walk`, same decisions, faster: the profile is a pair of Python
        lists kept sorted with ``bisect`` (reservations insert in place instead of
        ``np.insert``), :func:`earliest_lists` skips the start candidates whose window
        holds a step already known to be short of GPUs, and the walk stops once no job
        left in the window can start now (:func:`last_startable`): reservations only
        take capacity away, so a job that cannot start now by count never will in this
        cycle, and a reservation only matters to the jobs after it in the walk."""
        now = state.now_s
        if self._carry_over(fw, state):
            return
        self._carry = None
        limit = self.max_job_test
        times: list[float] = []
        avail: list[int] = []
        have = False
        profile_version = -1
        jobs: Iterator[QueuedJob] = order
        stop = limit  # walk position from which nothing can start (once known)
        rest: list[QueuedJob] = []
        base = -1  # walk position of ``rest[0]`` (-1: the rest is not materialised)
        tried = -1
        while True:
            job = next(jobs, None)
            tried += 1
            if job is None or tried >= stop:
                break
            failed_now = False
            if not have:  # no reservation yet: start in order while jobs fit
                status = attempt(fw, job, state)
                if status.ok or status.code == Code.REJECT:
                    continue
                times, avail = self._profile_lists(fw, state)  # includes this cycle's starts
                have = True
                failed_now = True
                profile_version = fw.version
                if fw.queue.keyed_order:  # the rest of the window does not depend on the walk
                    rest = list(itertools.islice(jobs, limit - tried - 1))
                    base = tried + 1
                    stop = base + last_startable(times, avail, rest, now, 0)
                    jobs = iter(rest)
                    self._carry = _Carry((fw.version, fw.queue.order_epoch), times, avail,
                                         rest[-1] if rest else job, fw.last_seq)
            elif base >= 0 and (tried & 15) == 0:  # reservations since may rule out more
                stop = base + last_startable(times, avail, rest, now, tried - base)
            self._reserve_one(fw, job, state, times, avail, failed_now)
        carry = self._carry
        if carry is not None:  # valid only if nothing started after the profile was built
            if fw.version != profile_version or not fw.queue.static_walk or fw.queue.num_share:
                self._carry = None
            else:  # the cluster as this walk leaves it (the simulator applies the starts)
                carry.key = (fw.version, fw.queue.order_epoch)
                carry.free = state.free.copy()
                carry.health = state.snapshot.health
                carry.seen_seq = fw.last_seq

    def _carry_over(self, fw: Framework, state: CycleState) -> bool:
        """Whether this cycle can reuse the last walk (then done): nothing started or
        ended since, the order is the same, no release or reservation step lies between
        the last walk and now, every job submitted since sorts after the last job of that
        walk's window, and no job that enters the window now (behind that last job: new,
        or old ones whose places freed when jobs started) can start now by count on the
        last walk's (partial) profile.

        The last walk's decisions then hold unchanged: its profile differs only in its
        first instant, a job that could not start by count then cannot now (its window
        only grows), and its reservations start at the same steps. Its profile may lack
        the reservations after its early stop, so it has at least the real capacity: a
        new job that cannot start on it cannot start on the real one either."""
        carry = self._carry
        now = state.now_s
        snap = state.snapshot
        queue = fw.queue
        if carry is None or carry.key != (fw.version, queue.order_epoch) or queue.order_due(now) \
                or not queue.static_walk or queue.num_share \
                or not np.array_equal(snap.free, carry.free) \
                or not np.array_equal(snap.health, carry.health):
            return False
        times, avail = carry.times, carry.avail
        if len(times) > 1 and times[1] <= now:
            return False
        last = carry.last
        if queue.job(last.job_id) is not last:
            return False
        boundary = (last.data.get("_key"), last.seq)
        for q in queue.after(carry.seen_seq):
            if "_key" not in q.data or (q.data["_key"], q.seq) <= boundary:
                return False
        first = queue.position(last) + 1
        inside = [queue.at(i) for i in range(first, min(self.max_job_test, fw.num_queued()))]
        times[0] = now
        if inside:
            if last_startable(times, avail, inside, now, 0) > 0:
                return False
            carry.last = inside[-1]
        carry.seen_seq = fw.last_seq
        return True

    def _reserve_one(self, fw: Framework, job: QueuedJob, state: CycleState,
                     times: list[float], avail: list[int], failed_now: bool) -> None:
        """Start ``job`` now if it delays no reservation and fits, else reserve it."""
        now = state.now_s
        need = job.spec.num_gpus
        dur = max(job.est_runtime_s, 1e-9)
        start = earliest_lists(times, avail, need, dur, now)
        if start <= now:
            status = Status.unschedulable("") if failed_now else attempt(fw, job, state)
            if status.ok:
                reserve_lists(times, avail, now, now + dur, need)
                return
            # fits by count but not by shape: reserve from the next release on
            k = bisect.bisect_right(times, now)
            start = (earliest_lists(times, avail, need, dur, times[k])
                     if k < len(times) else math.inf)
        if math.isfinite(start):
            reserve_lists(times, avail, start, start + dur, need)
            job.reason = f"reserved: expected start in {start - now:.0f} s"
        else:
            job.reason = "no reservation possible (exceeds capacity)"

    def _profile(self, fw: Framework, state: CycleState) -> tuple[np.ndarray, np.ndarray]:
        """Free GPUs (count) as a step function of time from now: ``avail[i]`` on
        ``[times[i], times[i+1])``."""
        t, a = self._profile_lists(fw, state)
        return np.asarray(t, dtype=float), np.asarray(a, dtype=np.int64)

    def _profile_lists(self, fw: Framework, state: CycleState) -> tuple[list[float], list[int]]:
        """:meth:`_profile` as Python lists (the releases of jobs past their expected end
        count at ``now``). The release steps depend only on the running set and node
        health, so they are kept until either changes (``fw.version``, snapshot version)
        and only re-cut at ``now``."""
        now = state.now_s
        key = (fw.version, state.snapshot.version)
        cached = self._steps
        if cached is None or cached[0] != key:
            cached = self._steps = (key, *_release_steps(fw, state))
        _, times, levels = cached
        k = bisect.bisect_right(times, now)
        base = levels[k - 1] if k else 0
        return [now, *times[k:]], [state.free_total + base, *(
            state.free_total + v for v in itertools.islice(levels, k, None))]


def _release_steps(fw: Framework, state: CycleState) -> tuple[list[float], list[int]]:
    """Expected release instants of the running jobs (sorted, distinct) and the GPUs
    released up to and including each (whole GPUs on nodes that are up)."""
    health = state.snapshot.health
    sick = bool(health.any())
    running = fw.running
    times: list[float] = []
    levels: list[int] = []
    level = 0
    for end, _, job_id in fw.ends:
        place = running[job_id].placement
        if sick:
            level += sum(c for node, c in zip(place.nodes, place.gpus, strict=True)
                         if health[node] == 0)
        else:
            level += sum(place.gpus)
        if times and end <= times[-1]:  # ``ends`` is sorted: the same instant
            levels[-1] = level
        else:
            times.append(end)
            levels.append(level)
    return times, levels


@dataclass(slots=True)
class _Carry:
    """The last conservative walk, as :meth:`ConservativeBackfill._carry_over` reuses it:
    (framework version, order epoch) it ended at, its profile after its reservations, the
    last job of its window, the last submission it saw, and the free GPUs per node and
    node health it left (the next snapshot must show the same)."""

    key: tuple[int, float]
    times: list[float]
    avail: list[int]
    last: QueuedJob
    seen_seq: int
    free: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    health: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
