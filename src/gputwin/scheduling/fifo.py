"""Strict FIFO with all-or-nothing gang placement.

Jobs start in submit order; if the head of the queue does not fit, nothing behind it
starts (head-of-line blocking, no backfill). A job needing more GPUs than the whole
cluster has is rejected at submit time.
"""

from __future__ import annotations

from collections import deque

from gputwin.cluster.layout import ClusterLayout
from gputwin.scheduling.base import Decision, Rejection
from gputwin.scheduling.placement import Placer
from gputwin.workload.job import JobSpec


class FifoScheduler:
    """First in, first out; ``placer`` chooses the nodes (see :mod:`.placement`)."""

    __slots__ = ("_layout", "_placer", "_queue")

    def __init__(self, layout: ClusterLayout, placer: Placer) -> None:
        self._layout = layout
        self._placer = placer
        self._queue: deque[JobSpec] = deque()

    def submit(self, job: JobSpec, now_s: float) -> Rejection | None:
        total = self._layout.total_gpus
        if job.num_gpus > total:
            return Rejection(job, f"needs {job.num_gpus} GPUs, the cluster has {total}")
        self._queue.append(job)
        return None

    def schedule(
        self, now_s: float, layout: ClusterLayout, free: tuple[int, ...]
    ) -> list[Decision]:
        decisions: list[Decision] = []
        if not self._queue:
            return decisions
        scratch = list(free)
        free_total = sum(scratch)
        queue = self._queue
        while queue:
            job = queue[0]
            if job.num_gpus > free_total:
                break
            placement = self._placer(layout, scratch, job.num_gpus)
            if placement is None:
                break
            queue.popleft()
            for node, count in zip(placement.nodes, placement.gpus, strict=True):
                scratch[node] -= count
            free_total -= placement.num_gpus
            decisions.append(Decision(job, placement))
        return decisions

    def queued(self) -> list[JobSpec]:
        return list(self._queue)

    def num_queued(self) -> int:
        return len(self._queue)

    def waiting_reason(self, job: JobSpec) -> str:
        if self._queue and self._queue[0] is job:
            return f"head of queue: waiting for {job.num_gpus} GPUs in a gang-placeable shape"
        return "waiting behind the head of the FIFO queue"
