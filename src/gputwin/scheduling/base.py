"""The scheduler interface the simulation drives (implemented by :class:`Framework`).

The simulation calls :meth:`Scheduler.submit` on each arrival (and again when a preempted
job goes back to the queue), :meth:`Scheduler.schedule` once per instant with a read-only
snapshot, and :meth:`Scheduler.finished` when a job ends. ``schedule`` returns a
:class:`CycleResult` (preemptions, then starts, then rejections) that is valid against the
snapshot; the simulation applies it to the ledger. Outcomes that are not errors (a job can
never run) are returned as :class:`Rejection` values, never raised, so no job is lost.
"""

from __future__ import annotations

from typing import Protocol

from gputwin.cluster.ledger import Placement
from gputwin.cluster.snapshot import ClusterSnapshot
from gputwin.scheduling.api import CycleResult, Decision, Preemption, Rejection
from gputwin.workload.job import JobSpec

__all__ = ["CycleResult", "Decision", "Preemption", "Rejection", "Scheduler"]


class Scheduler(Protocol):
    """What the simulation needs from a scheduling policy."""

    fragmentation_frac: float | None  # last cycle's sample (None: nothing free/waiting)

    def submit(self, job: JobSpec, now_s: float, remaining_frac: float = 1.0) -> Rejection | None:
        """Queue ``job``; return a :class:`Rejection` if it can never be placed."""
        ...

    def schedule(self, now_s: float, snapshot: ClusterSnapshot) -> CycleResult:
        """Decisions for now; started jobs leave the queue."""
        ...

    def finished(self, job_id: str, now_s: float) -> None:
        """A running job ended (completed or failed)."""
        ...

    def relocated(self, job_id: str, placement: Placement, now_s: float) -> None:
        """A running job's placement changed outside a cycle (a hot spare took a slow
        node's place); it keeps running."""
        ...

    def queued(self) -> list[JobSpec]:
        """Jobs still waiting."""
        ...

    def num_queued(self) -> int:
        """How many jobs are waiting (cheap)."""
        ...

    def waiting_reason(self, job: JobSpec) -> str:
        """Why ``job`` is still queued (for the report)."""
        ...
