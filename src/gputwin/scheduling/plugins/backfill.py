"""Slurm-style backfill queueing (``queueing/backfill``).

``mode: easy`` (EASY, Lifka 1995): the first blocked job gets a reservation at its
*shadow time* (earliest time it fits, from the expected releases of running jobs); later
jobs may start now if they end before the shadow time or use only capacity the reservation
does not need. ``mode: conservative`` (Mu'alem & Feitelson 2001;
:mod:`gputwin.scheduling.plugins.backfill_conservative`): every blocked job in the window
gets a reservation, and a job may start only if it delays none of them. Expected run
times: ``runtime_estimate`` = ``user_limit`` (the job's ``runtime_limit_s``, else
``default_limit_s``), ``predicted`` (perf model estimate, or trace duration, ×
``runtime_factor``) or ``oracle`` (the true duration). At most ``max_job_test`` queued jobs
are considered per cycle (Slurm ``bf_max_job_test``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
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
    is_share_request,
)
from gputwin.scheduling.plugins.backfill_conservative import ConservativeBackfill
from gputwin.scheduling.plugins.queueing import ShapeMemo, attempt
from gputwin.scheduling.status import Code

if TYPE_CHECKING:
    from gputwin.scheduling.framework import Framework


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
        self._conservative = ConservativeBackfill(args.max_job_test)

    def walk(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        if self.a.mode == "easy":
            self._easy(fw, order, state)
        else:
            self._conservative.walk(fw, order, state)

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
                state.snapshot.version, fw.version) or self._seen_epoch != fw.queue.order_epoch \
                or not fw.queue.static_walk or fw.queue.order_due(state.now_s):
            return None
        head_id = cache[0]
        head = fw.queue.job(head_id)
        if head is None or head.hold is not None:
            return None
        new_jobs = fw.queue.after(self._seen_seq)
        head_key = (head.data.get("_key"), head.seq)
        limit = self.a.max_job_test
        num = fw.num_queued()
        window = num <= limit
        if not window and not self._walked_all:
            # every old job a full walk would look at must have been looked at last time
            last = fw.queue.at(limit - 1)
            if self._boundary is None or (last.data.get("_key"), last.seq) > self._boundary:
                return None
        inside = []
        for q in new_jobs:
            if "_key" not in q.data or (q.data["_key"], q.seq) < head_key:
                return None  # sorts before the head: full walk
            # a full walk would look only at the first ``max_job_test`` queued jobs
            if window or fw.queue.position(q) < limit:
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
            if state.free_total < floor and (state.free_total > 0 or not fw.queue.num_share):
                break
            if state.free_total <= 0:  # only partial GPUs left: only share requests
                if not fw.queue.num_share:
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
        self._seen_epoch = fw.queue.order_epoch
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


def _spare(free_at_shadow: np.ndarray, placement: Placement) -> np.ndarray:
    spare = free_at_shadow.copy()
    for node, count in zip(placement.nodes, placement.gpus, strict=True):
        spare[node] -= count
    return spare
