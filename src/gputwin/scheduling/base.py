"""The scheduler interface the simulation drives.

The simulation calls :meth:`Scheduler.submit` on each arrival, then
:meth:`Scheduler.schedule` after every batch of arrivals/completions at one instant.
``schedule`` looks at the free GPUs (a read-only snapshot) and returns placements; the
simulation applies them to the ledger. Outcomes that are not errors (a job can never run)
are returned as :class:`Rejection` values, never raised, so no job is lost.

This is deliberately small: the plugin framework (queue-sort, filter, score, permit,
backfill, preemption) will implement the same two calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.workload.job import JobSpec


@dataclass(frozen=True, slots=True)
class Decision:
    """Start ``job`` on ``placement`` now."""

    job: JobSpec
    placement: Placement


@dataclass(frozen=True, slots=True)
class Rejection:
    """``job`` can never run here; ``reason`` says why (ends the job as ``failed``)."""

    job: JobSpec
    reason: str


class Scheduler(Protocol):
    """What the simulation needs from a scheduling policy."""

    def submit(self, job: JobSpec, now_s: float) -> Rejection | None:
        """Queue ``job``; return a :class:`Rejection` if it can never be placed."""
        ...

    def schedule(
        self, now_s: float, layout: ClusterLayout, free: tuple[int, ...]
    ) -> list[Decision]:
        """Jobs to start now, given free GPUs per node; removes them from the queue."""
        ...

    def queued(self) -> list[JobSpec]:
        """Jobs still waiting, in queue order."""
        ...

    def num_queued(self) -> int:
        """How many jobs are waiting (cheap)."""
        ...

    def waiting_reason(self, job: JobSpec) -> str:
        """Why ``job`` is still queued (for the report)."""
        ...
