"""Jobs a permit plugin told to wait (a gang's co-scheduling, a carbon window, ...).

A job whose permit answers WAIT keeps its placement reserved in the cycle's scratch and
waits in the queue until ``hold_until_s``: each later cycle gives its GPUs to it again (so
no other job takes them) and asks the permit once more; past the deadline the hold expires,
the reservation is undone and the job is queued again like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gputwin.cluster.ledger import Placement
from gputwin.scheduling.api import CycleState, QueuedJob, ReservePlugin
from gputwin.scheduling.scratch import take
from gputwin.scheduling.status import Status


class PermitHolds:
    """The ids of waiting jobs that hold a placement after a permit WAIT."""

    def __init__(self) -> None:
        self.held: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.held)

    def hold(self, job: QueuedJob, placement: Placement, status: Status, state: CycleState,
             *, was_held: bool) -> bool:
        """A permit answered WAIT (``status``): hold ``placement`` for ``job`` while its
        deadline (set at the first WAIT) has not passed. False when it has: the wait
        timed out."""
        if not was_held:
            job.hold_until_s = state.now_s + status.timeout_s
        if state.now_s < job.hold_until_s or (
                not was_held and state.now_s == job.hold_until_s):
            job.hold = placement
            self.held.add(job.job_id)
            take(state, placement)
            return True
        return False

    def renew(self, jobs: Mapping[str, QueuedJob], reserve: Sequence[ReservePlugin],
              state: CycleState) -> None:
        """At a cycle's start: held placements go back into the scratch; holds past their
        deadline expire (reservations undone, the job queued again)."""
        for job_id in list(self.held):
            q = jobs.get(job_id)
            if q is None or q.hold is None:
                self.held.discard(job_id)
                continue
            if state.now_s > q.hold_until_s:
                for plugin in reserve:
                    plugin.unreserve(q, q.hold, state)
                q.hold = None
                self.held.discard(job_id)
                q.reason = "permit wait timed out; re-queued"
            else:
                take(state, q.hold)

    def next_deadline_s(self, jobs: Mapping[str, QueuedJob], now_s: float) -> float | None:
        """The earliest deadline after ``now_s`` of a held job (``None``: none held)."""
        times = [q.hold_until_s for q in (jobs.get(j) for j in self.held)
                 if q is not None and q.hold is not None and q.hold_until_s > now_s]
        return min(times) if times else None
