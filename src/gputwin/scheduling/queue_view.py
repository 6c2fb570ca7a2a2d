"""The read-only face of the waiting queue that queueing walks and backfill read.

:class:`QueueView` answers what a walk asks of the queue without walking it: the current
key-sorted order by index and position, the jobs submitted after a sequence number, the
request counters, when the order was last re-keyed, and what a walk may assume about the
order (``keyed_order``, ``static_walk``). It changes nothing; the framework owns the
:class:`~gputwin.scheduling.waiting.WaitingQueue` behind it.
"""

from __future__ import annotations

from gputwin.scheduling.api import QueuedJob
from gputwin.scheduling.permit_holds import PermitHolds
from gputwin.scheduling.waiting import WaitingQueue


class QueueView:
    """Read-only queries on a :class:`WaitingQueue` (see the module docstring).

    ``keyed``: a walk may read the order ahead (shortcuts on, a key-sorted queue, no
    post-filter that could send a job started in the cycle back into the queue).
    ``static``: a walk's outcome depends only on the queue, the cluster and the running
    set (shortcuts on, the shape memo allowed, a key-sorted queue, no permit plugin), as
    long as no job is held after a permit WAIT (``holds``).
    """

    __slots__ = ("_holds", "_keyed", "_static", "_waiting")

    def __init__(self, waiting: WaitingQueue, holds: PermitHolds, *, keyed: bool,
                 static: bool) -> None:
        self._waiting = waiting
        self._holds = holds
        self._keyed = keyed
        self._static = static

    @property
    def keyed_order(self) -> bool:
        """Whether a walk may read the queue order ahead (shortcuts on): a key-sorted
        queue that the walk cannot reorder (no custom order such as DRF's, and no
        post-filter that could send a job started in the cycle back into the queue)."""
        return self._keyed

    @property
    def static_walk(self) -> bool:
        """Whether a walk's outcome depends only on the queue, the cluster and the
        running set (not on the clock): shortcuts on, the shape memo allowed, a
        key-sorted queue, no permit plugin and no held job."""
        return self._static and not self._holds

    @property
    def order_epoch(self) -> float:
        """When the static queue order was last re-keyed (changes on a refresh)."""
        return self._waiting.sorted_at

    def order_due(self, now_s: float) -> bool:
        """Whether the next walk at ``now_s`` re-keys the queue (time-varying keys)."""
        return self._waiting.order_due(now_s)

    def at(self, i: int) -> QueuedJob:
        """The ``i``-th job of the current (key-sorted) order."""
        return self._waiting.at(i)

    def position(self, q: QueuedJob) -> int:
        """Index of queued job ``q`` in the current (key-sorted) order."""
        return self._waiting.position(q)

    def job(self, job_id: str) -> QueuedJob | None:
        """The waiting job ``job_id`` (``None``: not waiting)."""
        return self._waiting.jobs.get(job_id)

    def jobs(self) -> list[QueuedJob]:
        """The queue in submission order (a copy; the jobs themselves are read-only)."""
        return list(self._waiting.jobs.values())

    def after(self, seq: int) -> list[QueuedJob]:
        """Waiting jobs submitted after sequence number ``seq``, in submission order."""
        return self._waiting.after(seq)

    def smallest_request(self) -> int | None:
        """Fewest GPUs any waiting job asks for."""
        return self._waiting.smallest_request()

    @property
    def num_shaped(self) -> int:
        """Waiting jobs whose request is more than plain whole GPUs (see ``Shape``)."""
        return self._waiting.num_shaped

    @property
    def num_share(self) -> int:
        """Waiting jobs that ask for part of a GPU (fractional or MIG)."""
        return self._waiting.num_share
