"""Queueing plugins: how a cycle walks the ordered queue.

- ``strict``: start jobs in order; the first job that does not fit blocks the rest
  (head-of-line blocking; Kueue StrictFIFO).
- ``best-effort``: try every job in order, skip the ones that do not fit (Kueue
  BestEffortFIFO); no reservation, so large jobs can starve.
- ``backfill``: Slurm-style. ``mode: easy`` (EASY, Lifka 1995): the first blocked job gets
  a reservation at its *shadow time* (earliest time it fits, from the expected releases of
  running jobs); later jobs may start now if they end before the shadow time or use only
  capacity the reservation does not need. ``mode: conservative`` (Mu'alem & Feitelson
  2001): every blocked job in the window gets a reservation, and a job may start only if it
  delays none of them. Expected run times: ``runtime_estimate`` = ``user_limit`` (the job's
  ``runtime_limit_s``, else ``default_limit_s``), ``predicted`` (perf model estimate, or
  trace duration, × ``runtime_factor``) or ``oracle`` (the true duration). At most
  ``max_job_test`` queued jobs are considered per cycle (Slurm ``bf_max_job_test``).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gputwin.cluster.ledger import Placement
from gputwin.scheduling.api import (
    CycleState,
    PluginArgs,
    PluginContext,
    QueuedJob,
    QueueingPlugin,
    Rejection,
    Shape,
    is_share_request,
)
from gputwin.scheduling.status import Code, Status

if TYPE_CHECKING:
    from gputwin.scheduling.framework import Framework


def attempt(fw: Framework, job: QueuedJob, state: CycleState,
            free: np.ndarray | None = None) -> Status:
    """Place and start ``job``; on failure run post-filter (preemption...) and retry once."""
    status, placement = fw.try_place(job, state, free)
    if placement is not None:
        status = fw.start(job, placement, state)
        if status.ok:
            return status
    if status.code == Code.REJECT:
        state.result.rejections.append(Rejection(job.spec, status.reason))
        fw.remove_queued([job.job_id])
        return status
    if status.code == Code.UNSCHEDULABLE and free is None and fw.plugins.post_filter \
            and fw.post_filter(job, state):
        status, placement = fw.try_place(job, state)
        if placement is not None:
            status = fw.start(job, placement, state)
    if not status.ok:
        job.reason = status.reason
    return status


class ShapeMemo:
    """Per cycle: the fewest GPUs that failed for each request shape (``QueuedJob.shape``:
    GPU milli, MIG profile, GPU type, CPU, memory). A job of a shape that already failed
    with at most as many GPUs cannot fit either, so the walk skips it. Active only when
    the framework allows it (``Framework.shape_memo``: no post-filter, shape-only
    pre-filters); records only ``UNSCHEDULABLE`` outcomes. Walks read ``failed`` directly
    in their loop (hot path)."""

    __slots__ = ("exhausted", "failed", "on", "smallest", "uniform")

    def __init__(self, fw: Framework) -> None:
        self.on = fw.shape_memo
        self.failed: dict[Shape, int] = {}
        self.uniform = fw.num_shaped_waiting == 0  # every waiting job: plain whole GPUs
        self.smallest = fw.smallest_request() or 1
        #: nothing waiting can fit any more (only known when every waiting job is plain)
        self.exhausted = False

    def record(self, job: QueuedJob, status: Status) -> bool:
        """Note a failure; True once the walk may stop (:attr:`exhausted`)."""
        if self.on and status.code == Code.UNSCHEDULABLE:
            size = job.spec.num_gpus
            shape = job.shape
            if size < self.failed.get(shape, size + 1):
                self.failed[shape] = size
                if shape is None and self.uniform and size <= self.smallest:
                    self.exhausted = True
        return self.exhausted


class WindowArgs(PluginArgs):
    max_job_test: int = Field(default=1000, gt=0, description="jobs considered per cycle")


class StrictQueueing(QueueingPlugin):
    """Head-of-line blocking."""

    name = "queueing/strict"
    Args = WindowArgs

    def walk(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        for job in order:
            status = attempt(fw, job, state)
            if status.code in (Code.UNSCHEDULABLE, Code.WAIT):
                job.reason = f"head of queue: {status.reason}"
                fw.blocked_by = job.job_id
                return
        fw.blocked_by = None


class BestEffortQueueing(QueueingPlugin):
    """Skip jobs that do not fit; a failed size is not retried in the same cycle."""

    name = "queueing/best-effort"
    Args = WindowArgs

    def walk(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        assert isinstance(self.args, WindowArgs)
        if fw.shortcuts and state.free_total <= 0 and not fw.num_share_waiting:
            return  # the walk would stop at its first job (before a dynamic order is built)
        memo = ShapeMemo(fw)
        failed = memo.failed
        limit = self.args.max_job_test
        for tried, job in enumerate(order):
            if tried >= limit:
                break
            if state.free_total <= 0:  # only partial GPUs left: only share requests
                if not fw.num_share_waiting:
                    break
                if not is_share_request(job.spec):
                    job.reason = f"no room for {job.spec.num_gpus} GPUs"
                    continue
            if failed:
                fewest = failed.get(job.shape)
                if fewest is not None and job.spec.num_gpus >= fewest:
                    job.reason = f"no room for {job.spec.num_gpus} GPUs"
                    continue
            if memo.record(job, attempt(fw, job, state)):
                break


class BackfillArgs(PluginArgs):
    mode: Literal["easy", "conservative"] = "easy"
    runtime_estimate: Literal["user_limit", "predicted", "oracle"] = "user_limit"
    runtime_factor: float = Field(default=1.0, gt=0, description="× the estimate")
    default_limit_s: float = Field(default=7 * 86400.0, gt=0,
                                   description="limit of jobs without runtime_limit_s")
    max_job_test: int = Field(default=500, gt=0, description="Slurm bf_max_job_test")


class BackfillQueueing(QueueingPlugin):
    """EASY or conservative backfill (see module docstring)."""

    name = "queueing/backfill"
    Args = BackfillArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, BackfillArgs)
        self.a = args
        self._cache: tuple[str, int, float, np.ndarray] | None = None
        self._seen_version: tuple[int, int] = (-1, -1)
        self._seen_seq = 0
        self._seen_epoch = -math.inf
        #: the last walk looked at every queued job it could start (else: the sort key of
        #: the last one it looked at, ``_boundary``)
        self._walked_all = False
        self._boundary: tuple[object, int] | None = None
        #: conservative: release steps for (framework version, snapshot version)
        self._steps: tuple[tuple[int, int], list[float], list[int]] | None = None
        #: conservative: what the last walk left, for cycles with only new arrivals
        self._carry: _Carry | None = None

    def walk(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        if self.a.mode == "easy":
            self._easy(fw, order, state)
        else:
            self._conservative(fw, order, state)

    # -- EASY ---------------------------------------------------------------------------------

    def _easy(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        shortcut = self._arrivals_only(fw, state)
        if shortcut is not None:  # nothing started or ended since the last cycle
            head_id, shadow, extra, new_jobs = shortcut
            self._backfill(fw, iter(new_jobs), state, head_id, shadow, extra, full=False)
            return
        head: QueuedJob | None = None
        for tried, job in enumerate(order):
            status = attempt(fw, job, state)
            if status.code != Code.UNSCHEDULABLE:
                if tried + 1 >= self.a.max_job_test:
                    break
                continue
            head = job
            shadow, extra = self._reservation(fw, job, state)
            job.reason = (f"reserved: expected start in {shadow - state.now_s:.0f} s"
                          if math.isfinite(shadow) else f"head of queue: {status.reason}")
            fw.blocked_by = job.job_id
            self._backfill(fw, order, state, job.job_id, shadow, extra, tried + 1)
            break
        if head is None:
            fw.blocked_by = None
            self._cache = None

    def _arrivals_only(self, fw: Framework, state: CycleState
                       ) -> tuple[str, float, np.ndarray, list[QueuedJob]] | None:
        """If the cluster and running set are as the last cycle left them, only jobs
        submitted since need a look (as backfill candidates behind the same head)."""
        cache = self._cache
        if not fw.shortcuts or cache is None or cache[1] != fw.version or self._seen_version != (
                state.snapshot.version, fw.version) or self._seen_epoch != fw.order_epoch \
                or not fw.static_walk or fw.order_due(state.now_s):
            return None
        head_id = cache[0]
        head = fw.queued_job(head_id)
        if head is None or head.hold is not None:
            return None
        new_jobs = fw.queued_after(self._seen_seq)
        head_key = (head.data.get("_key"), head.seq)
        limit = self.a.max_job_test
        num = fw.num_queued()
        window = num <= limit
        if not window and not self._walked_all:
            # every old job a full walk would look at must have been looked at last time
            last = fw.queued_at(limit - 1)
            if self._boundary is None or (last.data.get("_key"), last.seq) > self._boundary:
                return None
        inside = []
        for q in new_jobs:
            if "_key" not in q.data or (q.data["_key"], q.seq) < head_key:
                return None  # sorts before the head: full walk
            # a full walk would look only at the first ``max_job_test`` queued jobs
            if window or fw.queue_position(q) < limit:
                inside.append(q)
        return head_id, cache[2], cache[3].copy(), inside

    def _backfill(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState,
                  head_id: str, shadow: float, extra: np.ndarray, tried: int = 0,
                  full: bool = True) -> None:
        """Start jobs behind the blocked head without delaying its reservation (``full``:
        ``order`` is the rest of the queue, not only the new arrivals)."""
        fail_now, fail_extra = ShapeMemo(fw), ShapeMemo(fw)  # shapes that failed
        now_failed, extra_failed = fail_now.failed, fail_extra.failed
        # plain requests only: nothing fits once fewer GPUs are free than the smallest ask
        floor = fail_now.smallest if fw.shortcuts and fail_now.uniform else 1
        limit = self.a.max_job_test
        walked_all = True
        last: QueuedJob | None = None
        for job in order:
            if tried >= limit:
                walked_all = False
                break
            tried += 1
            last = job
            if state.free_total < floor and (state.free_total > 0 or not fw.num_share_waiting):
                break
            if state.free_total <= 0:  # only partial GPUs left: only share requests
                if not fw.num_share_waiting:
                    break
                if not is_share_request(job.spec):
                    continue
            size = job.spec.num_gpus
            fewest = now_failed.get(job.shape) if now_failed else None
            if fewest is not None and size >= fewest:
                continue  # failed on all free GPUs: fails on the spare capacity too
            if state.now_s + job.est_runtime_s <= shadow:
                if fail_now.record(job, attempt(fw, job, state)):
                    break  # a smallest plain request failed on all free GPUs
                continue
            fewest = extra_failed.get(job.shape) if extra_failed else None
            if fewest is not None and size >= fewest:
                continue
            limited = np.minimum(state.free, extra)
            status, placement = fw.try_place(job, state, limited)
            if placement is not None:
                status = fw.start(job, placement, state)
                if status.ok:
                    for node, count in zip(placement.nodes, placement.gpus, strict=True):
                        extra[node] -= count
                    continue
            job.reason = f"would delay the reservation of {head_id}"
            if fail_extra.record(job, status) and fail_now.exhausted:
                break
        self._cache = (head_id, fw.version, shadow, extra.copy())
        self._seen_version = (state.snapshot.version, fw.version)
        self._seen_seq = fw.last_seq
        self._seen_epoch = fw.order_epoch
        if full:
            self._walked_all = walked_all
            self._boundary = None if last is None else (last.data.get("_key"), last.seq)

    def _reservation(self, fw: Framework, job: QueuedJob,
                     state: CycleState) -> tuple[float, np.ndarray]:
        """Shadow time and per-node spare capacity at it, from the expected releases."""
        cache = self._cache
        if cache is not None and cache[0] == job.job_id and cache[1] == fw.version:
            return cache[2], cache[3].copy()
        if fw.shortcuts and job.shape is None:
            return self._reservation_plain(fw, job, state)
        layout = state.layout
        gpn = layout.gpus_per_node
        need = job.spec.num_gpus
        whole_need = need // gpn if need > gpn else 0
        scratch = state.free.copy()
        total = state.free_total
        health = state.snapshot.health
        running = fw.running
        now = state.now_s
        ends = fw.ends
        i, n = 0, len(ends)
        while i < n:
            t = max(ends[i][0], now)
            while i < n and max(ends[i][0], now) <= t:  # every release at this instant
                run = running[ends[i][2]]
                for node, count in zip(run.placement.nodes, run.placement.gpus, strict=True):
                    if health[node] == 0:
                        scratch[node] += count
                        total += count
                i += 1
            if total < need or (whole_need and int((scratch == gpn).sum()) < whole_need):
                continue
            _status, placement = fw.try_place(job, state, scratch)
            if placement is not None:
                return t, _spare(scratch, placement)
        return math.inf, state.free.copy()

    def _reservation_plain(self, fw: Framework, job: QueuedJob,
                           state: CycleState) -> tuple[float, np.ndarray]:
        """:meth:`_reservation` for a plain whole-GPU gang, same result, faster: the
        releases are replayed on a Python list, and the placement is asked only at the
        instants where the gang rule (one node with ``need`` free GPUs, or ``need //
        gpus_per_node`` wholly free nodes) can hold — a necessary condition for every
        placement plugin, since filters only remove capacity."""
        gpn = state.layout.gpus_per_node
        need = job.spec.num_gpus
        whole_need = need // gpn if need > gpn else 0
        cur: list[int] = state.free.tolist()
        total = state.free_total
        most = max(cur) if cur else 0
        full = cur.count(gpn)
        health = state.snapshot.health
        sick = bool(health.any())
        running = fw.running
        now = state.now_s
        ends = fw.ends
        i, n = 0, len(ends)
        while i < n:
            t = max(ends[i][0], now)
            while i < n and max(ends[i][0], now) <= t:  # every release at this instant
                run = running[ends[i][2]]
                for node, count in zip(run.placement.nodes, run.placement.gpus, strict=True):
                    if sick and health[node] != 0:
                        continue
                    v = cur[node] + count
                    cur[node] = v
                    total += count
                    if v > most:
                        most = v
                    if v == gpn:
                        full += 1
                i += 1
            if total < need or (full < whole_need if whole_need else most < need):
                continue
            scratch = np.array(cur, dtype=np.int64)
            _status, placement = fw.try_place(job, state, scratch)
            if placement is not None:
                return t, _spare(scratch, placement)
        return math.inf, state.free.copy()

    # -- conservative --------------------------------------------------------------------------

    def _conservative(self, fw: Framework, order: Iterator[QueuedJob],
                      state: CycleState) -> None:
        if fw.shortcuts:
            self._conservative_lists(fw, order, state)
            return
        now = state.now_s
        profile: tuple[np.ndarray, np.ndarray] | None = None
        for tried, job in enumerate(order):
            if tried >= self.a.max_job_test:
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
            start = _earliest(times, avail, need, dur, now)
            if start <= now:
                status = Status.unschedulable("") if failed_now else attempt(fw, job, state)
                if status.ok:
                    profile = _reserve(times, avail, now, now + dur, need)
                    continue
                # fits by count but not by shape: reserve from the next release on
                nxt = times[times > now]
                start = _earliest(times, avail, need, dur, float(nxt[0])) if nxt.size else math.inf
            if math.isfinite(start):
                profile = _reserve(times, avail, start, start + dur, need)
                job.reason = f"reserved: expected start in {start - now:.0f} s"
            else:
                job.reason = "no reservation possible (exceeds capacity)"

    def _conservative_lists(self, fw: Framework, order: Iterator[QueuedJob],
                            state: CycleState) -> None:
        """:meth:`_conservative`, same decisions, faster: the profile is a pair of Python
        lists kept sorted with ``bisect`` (reservations insert in place instead of
        ``np.insert``), :func:`_earliest_lists` skips the start candidates whose window
        holds a step already known to be short of GPUs, and the walk stops once no job
        left in the window can start now (:func:`_last_startable`): reservations only
        take capacity away, so a job that cannot start now by count never will in this
        cycle, and a reservation only matters to the jobs after it in the walk."""
        now = state.now_s
        if self._carry_over(fw, state):
            return
        self._carry = None
        limit = self.a.max_job_test
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
                if fw.keyed_order:  # the rest of the window does not depend on the walk
                    rest = list(itertools.islice(jobs, limit - tried - 1))
                    base = tried + 1
                    stop = base + _last_startable(times, avail, rest, now, 0)
                    jobs = iter(rest)
                    self._carry = _Carry((fw.version, fw.order_epoch), times, avail,
                                         rest[-1] if rest else job, fw.last_seq)
            elif base >= 0 and (tried & 15) == 0:  # reservations since may rule out more
                stop = base + _last_startable(times, avail, rest, now, tried - base)
            self._reserve_one(fw, job, state, times, avail, failed_now)
        carry = self._carry
        if carry is not None:  # valid only if nothing started after the profile was built
            if fw.version != profile_version or not fw.static_walk or fw.num_share_waiting:
                self._carry = None
            else:  # the cluster as this walk leaves it (the simulator applies the starts)
                carry.key = (fw.version, fw.order_epoch)
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
        if carry is None or carry.key != (fw.version, fw.order_epoch) or fw.order_due(now) \
                or not fw.static_walk or fw.num_share_waiting \
                or not np.array_equal(snap.free, carry.free) \
                or not np.array_equal(snap.health, carry.health):
            return False
        times, avail = carry.times, carry.avail
        if len(times) > 1 and times[1] <= now:
            return False
        last = carry.last
        if fw.queued_job(last.job_id) is not last:
            return False
        boundary = (last.data.get("_key"), last.seq)
        for q in fw.queued_after(carry.seen_seq):
            if "_key" not in q.data or (q.data["_key"], q.seq) <= boundary:
                return False
        first = fw.queue_position(last) + 1
        inside = [fw.queued_at(i) for i in range(first, min(self.a.max_job_test,
                                                              fw.num_queued()))]
        times[0] = now
        if inside:
            if _last_startable(times, avail, inside, now, 0) > 0:
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
        start = _earliest_lists(times, avail, need, dur, now)
        if start <= now:
            status = Status.unschedulable("") if failed_now else attempt(fw, job, state)
            if status.ok:
                _reserve_lists(times, avail, now, now + dur, need)
                return
            # fits by count but not by shape: reserve from the next release on
            k = bisect.bisect_right(times, now)
            start = (_earliest_lists(times, avail, need, dur, times[k])
                     if k < len(times) else math.inf)
        if math.isfinite(start):
            _reserve_lists(times, avail, start, start + dur, need)
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
    """The last conservative walk, as :meth:`BackfillQueueing._carry_over` reuses it:
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


def _spare(free_at_shadow: np.ndarray, placement: Placement) -> np.ndarray:
    spare = free_at_shadow.copy()
    for node, count in zip(placement.nodes, placement.gpus, strict=True):
        spare[node] -= count
    return spare


def _earliest(times: np.ndarray, avail: np.ndarray, need: int, dur: float,
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


def _reserve(times: np.ndarray, avail: np.ndarray, t0: float, t1: float,
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


def _earliest_lists(times: list[float], avail: list[int], need: int, dur: float,
                    not_before: float) -> float:
    """:func:`_earliest` on lists, same result. A candidate start whose window
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


def _reserve_lists(times: list[float], avail: list[int], t0: float, t1: float,
                   need: int) -> None:
    """:func:`_reserve` in place on lists (``bisect`` instead of ``np.insert``)."""
    for t in (t0, t1):
        i = bisect.bisect_right(times, t) - 1
        if i < 0 or times[i] != t:
            base = avail[i] if i >= 0 else avail[0]
            times.insert(i + 1, t)
            avail.insert(i + 1, base)
    lo, hi = bisect.bisect_left(times, t0), bisect.bisect_left(times, t1)
    avail[lo:hi] = [v - need for v in avail[lo:hi]]


def _last_startable(times: list[float], avail: list[int], rest: list[QueuedJob],
                    now: float, first: int) -> int:
    """1 + the index in ``rest`` (from ``first`` on) of the last job that could start
    now by count (``avail >= need`` on every step of ``[now, now + dur)``, the test of
    :func:`_earliest_lists` at ``now``); ``first`` when none can. Capacity only shrinks
    as the walk reserves, so jobs after that index can neither start nor change a start."""
    lows = list(itertools.accumulate(avail, min))
    last = first - 1
    for k in range(first, len(rest)):
        q = rest[k]
        j = max(bisect.bisect_left(times, now + max(q.est_runtime_s, 1e-9)), 1)
        if lows[j - 1] >= q.spec.num_gpus:
            last = k
    return last + 1
