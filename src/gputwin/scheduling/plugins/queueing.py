"""Queueing plugins: how a cycle walks the ordered queue.

- ``strict``: start jobs in order; the first job that does not fit blocks the rest
  (head-of-line blocking; Kueue StrictFIFO).
- ``best-effort``: try every job in order, skip the ones that do not fit (Kueue
  BestEffortFIFO); no reservation, so large jobs can starve.
- ``backfill``: Slurm-style EASY or conservative backfill
  (:mod:`gputwin.scheduling.plugins.backfill`).

:func:`attempt` (place, start, else post-filter and retry) and :class:`ShapeMemo` serve
every walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gputwin.scheduling.api import (
    CycleState,
    PluginArgs,
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
        self.uniform = fw.queue.num_shaped == 0  # every waiting job: plain whole GPUs
        self.smallest = fw.queue.smallest_request() or 1
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
        if fw.shortcuts and state.free_total <= 0 and not fw.queue.num_share:
            return  # the walk would stop at its first job (before a dynamic order is built)
        memo = ShapeMemo(fw)
        failed = memo.failed
        limit = self.args.max_job_test
        for tried, job in enumerate(order):
            if tried >= limit:
                break
            if state.free_total <= 0:  # only partial GPUs left: only share requests
                if not fw.queue.num_share:
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
