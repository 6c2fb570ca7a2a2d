"""The waiting queue of one replica's scheduler.

Requests wait in admission order: first come, first served (a deque; preempted requests
go back to the front), or under priority scheduling by ``(priority, arrival, id)`` (a
heap; a preempted request keeps its place by those keys). The queue also keeps the prompt
tokens its requests still have to compute, which routers read as a replica's backlog.
"""

from __future__ import annotations

import heapq
from collections import deque

from gputwin.serving.request import ReqState


class WaitQueue:
    """Requests waiting to be admitted (module docstring).

    Exactly one of ``fifo`` (FCFS) and ``heap`` (priority) is used; the scheduler's hot
    path reads the one in use directly (``fifo[0]``, ``heap[0][3]``: the head)."""

    def __init__(self, priority: bool) -> None:
        self.priority = priority
        self.fifo: deque[ReqState] = deque()
        self.heap: list[tuple[int, float, int, ReqState]] = []
        self.prompt_tokens = 0  # prompt tokens the waiting requests still have to compute

    def size(self) -> int:
        return len(self.heap) if self.priority else len(self.fifo)

    def nonempty(self) -> bool:
        return bool(self.heap if self.priority else self.fifo)

    def push(self, req: ReqState, *, front: bool) -> None:
        """Add ``req``: at the back, or (``front``, FCFS) at the front."""
        self.prompt_tokens += req.num_tokens - req.computed
        if self.priority:
            spec = req.spec
            heapq.heappush(self.heap, (spec.priority, spec.arrival_time_s, req.rid, req))
        elif front:
            self.fifo.appendleft(req)
        else:
            self.fifo.append(req)

    def pop(self) -> ReqState:
        """Remove and return the head."""
        req = heapq.heappop(self.heap)[3] if self.priority else self.fifo.popleft()
        self.prompt_tokens -= req.num_tokens - req.computed
        return req

    def remove(self, req: ReqState) -> None:
        """Remove ``req`` from wherever it waits (the heap is kept in place: the scheduler
        holds it by reference)."""
        if self.priority:
            self.heap[:] = [entry for entry in self.heap if entry[3] is not req]
            heapq.heapify(self.heap)
        else:
            self.fifo.remove(req)
        self.prompt_tokens -= req.num_tokens - req.computed

    def in_order(self) -> list[ReqState]:
        """The waiting requests in admission order (the queue is left as it is)."""
        if self.priority:
            return [entry[3] for entry in sorted(self.heap)]
        return list(self.fifo)
