"""The waiting side of the scheduling framework: queued jobs, their order and counters.

:class:`WaitingQueue` holds the jobs in submission order, keeps a static queue order (FIFO,
priority) sorted incrementally and re-keys a time-varying one (multifactor) at most every
``refresh_period_s`` of the queue-sort plugin; a plugin with a custom ``order`` (DRF)
orders the whole queue itself each cycle. It also keeps the counters the cycle reads
without walking the queue (GPU request sizes, shaped and fractional requests).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from gputwin.scheduling.api import CycleState, QueuedJob, QueueSortPlugin, is_share_request


def _sort_key(item: tuple[Any, int, QueuedJob]) -> tuple[Any, int]:
    return (item[0], item[1])


class WaitingQueue:
    """Jobs waiting to start, in submission order and in the queue-sort order."""

    def __init__(self, sort: QueueSortPlugin) -> None:
        self.sort = sort
        self.jobs: dict[str, QueuedJob] = {}  # submission order
        self.custom_order = type(sort).order is not QueueSortPlugin.order
        self.sorted: list[tuple[Any, int, QueuedJob]] = []
        self.sorted_at = -math.inf
        self.refresh_s = float(getattr(sort, "refresh_period_s", math.inf))
        self.sizes: Counter[int] = Counter()  # GPU requests waiting (fragmentation)
        self.num_shaped = 0  # waiting jobs whose request shape is not plain whole GPUs
        self.num_share = 0  # waiting jobs asking part of a GPU (fractional or MIG)

    def __len__(self) -> int:
        return len(self.jobs)

    def add(self, q: QueuedJob, key_state: Callable[[], CycleState]) -> None:
        """Queue ``q``; a static order already sorted takes it at its key's place
        (``key_state`` gives the state the key is computed against)."""
        self.jobs[q.job_id] = q
        self._count(q, +1)
        if not self.custom_order and self.sorted_at > -math.inf:
            q.data["_key"] = key = self.sort.key(q, key_state())
            bisect.insort(self.sorted, (key, q.seq, q), key=_sort_key)

    def discard(self, job_id: str) -> QueuedJob | None:
        """Take ``job_id`` out of the queue (started or rejected); ``None`` if absent."""
        q = self.jobs.pop(job_id, None)
        if q is not None:
            self._unsort(q)
            self._count(q, -1)
        return q

    def order_due(self, now_s: float) -> bool:
        """Whether the next walk at ``now_s`` re-keys the queue (time-varying keys)."""
        return now_s - self.sorted_at >= self.refresh_s or self.sorted_at == -math.inf

    def order(self, state: CycleState) -> Iterator[QueuedJob]:
        """The queue in the plugin's order; jobs started or removed during the walk are
        skipped (deleted from the sorted list in place)."""
        if self.custom_order:
            yield from self.sort.order(list(self.jobs.values()), state)
            return
        if self.order_due(state.now_s):
            items = []
            for q in self.jobs.values():
                q.data["_key"] = key = self.sort.key(q, state)
                items.append((key, q.seq, q))
            items.sort(key=_sort_key)
            self.sorted = items
            self.sorted_at = state.now_s
        items = self.sorted
        i = 0
        while i < len(items):
            q = items[i][2]
            yield q
            if i < len(items) and items[i][2] is q:
                i += 1

    def at(self, i: int) -> QueuedJob:
        """The ``i``-th job of the current (key-sorted) order."""
        return self.sorted[i][2]

    def position(self, q: QueuedJob) -> int:
        """Index of queued job ``q`` in the current (key-sorted) order."""
        return bisect.bisect_left(self.sorted, (q.data.get("_key"), q.seq), key=_sort_key)

    def after(self, seq: int) -> list[QueuedJob]:
        """Waiting jobs submitted after sequence number ``seq``, in submission order."""
        out = []
        for q in reversed(self.jobs.values()):
            if q.seq <= seq:
                break
            out.append(q)
        out.reverse()
        return out

    def smallest_request(self) -> int | None:
        """Fewest GPUs any waiting job asks for."""
        return min(self.sizes) if self.sizes else None

    def _unsort(self, q: QueuedJob) -> None:
        """Delete ``q`` from the sorted order (binary search on its stored key)."""
        items = self.sorted
        if not items or self.custom_order:
            return
        i = bisect.bisect_left(items, (q.data.get("_key", None), q.seq), key=_sort_key) \
            if "_key" in q.data else 0
        if i < len(items) and items[i][2] is q:
            del items[i]
            return
        for j, item in enumerate(items):  # key changed since (refresh): linear fallback
            if item[2] is q:
                del items[j]
                return

    def _count(self, q: QueuedJob, sign: int) -> None:
        size = q.spec.num_gpus
        self.sizes[size] += sign
        if not self.sizes[size]:
            del self.sizes[size]
        if q.shape is not None:
            self.num_shaped += sign
            if is_share_request(q.spec):
                self.num_share += sign
