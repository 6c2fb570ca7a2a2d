"""Every optional plugin hook, declared in one place, and the read-only handle plugins see.

A plugin takes part in a hook by inheriting its class here (``class MyPlugin(ScorePlugin,
WakesUp)``); the framework and the simulator find hooks with ``isinstance`` against these
classes, never by looking for a method name. The hooks:

- lifecycle (on every :class:`~gputwin.scheduling.api.Plugin`, default no-ops):
  ``on_start(job, now_s)``, ``on_stop(job, now_s, preempted)``, ``on_migrate(old, new,
  now_s)``;
- :class:`ObservesWorkload`: ``observe_workload(jobs)`` once before the run (FGD's target
  workload);
- :class:`WakesUp`: ``next_wakeup_s(now_s)``, the next time the plugin wants a cycle;
- :class:`SuspendsJobs`: ``after_cycle(handle, now_s)`` after each queue walk, returning
  running jobs to stop at a checkpoint (carbon suspend);
- :class:`ChangesSpeed`: ``speed_changes(now_s)``, running jobs whose speed changes now
  (power caps);
- :class:`UsesSiteGrid`: ``attach_grid(series, forecast)``, the scenario's site grid;
- :class:`HasMigGeometry`: ``mig_geometry()``, the MIG placement table a placement uses
  (the framework asks it whether a MIG request could fit a partial GPU).

Plugins that look at the scheduler beyond their :class:`~gputwin.scheduling.api.CycleState`
(post-filters, :class:`SuspendsJobs`) get a :class:`SchedulerHandle`: the running jobs,
the queue length, the layout and a dry-run placement, all read-only. Stopping a job is
asked for by returning it, never done by the plugin.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.scheduling.api import CycleState, QueuedJob, RunningJob
from gputwin.scheduling.status import Status
from gputwin.workload.job import JobSpec

if TYPE_CHECKING:
    from gputwin.cluster.mig import MigGeometry
    from gputwin.energy.grid import Forecast, GridSeries


class SchedulerHandle(Protocol):
    """The read-only view of the scheduler a plugin receives (see module docstring)."""

    @property
    def running(self) -> Mapping[str, RunningJob]:
        """Running jobs by id (do not modify)."""
        ...

    @property
    def layout(self) -> ClusterLayout:
        """The cluster's nodes, leaves, pods and scale-up domains."""
        ...

    def num_queued(self) -> int:
        """Jobs waiting."""
        ...

    def try_place(self, job: QueuedJob, state: CycleState,
                  free: np.ndarray | None = None) -> tuple[Status, Placement | None]:
        """Where ``job`` would go against ``free`` (default the cycle's scratch); changes
        nothing."""
        ...


@dataclass(frozen=True, slots=True)
class SpeedChange:
    """From now on ``job_id`` progresses at ``throughput_frac`` of its uncapped speed and
    draws ``power_frac`` of its uncapped power (both in (0, 1])."""

    job_id: str
    throughput_frac: float
    power_frac: float


class ObservesWorkload(ABC):
    """Sees the run's jobs once before the run (an estimate of the offered workload)."""

    @abstractmethod
    def observe_workload(self, jobs: Sequence[JobSpec]) -> None: ...


class WakesUp(ABC):
    """Acts on the clock: the simulator runs a cycle at the time returned."""

    @abstractmethod
    def next_wakeup_s(self, now_s: float) -> float | None: ...


class SuspendsJobs(ABC):
    """After each queue walk: running jobs to stop at a checkpoint, with the reason."""

    @abstractmethod
    def after_cycle(self, handle: SchedulerHandle,
                    now_s: float) -> list[tuple[RunningJob, str]]: ...


class ChangesSpeed(ABC):
    """Running jobs whose speed (throughput, power) changes now; the simulator
    recomputes their end."""

    @abstractmethod
    def speed_changes(self, now_s: float) -> list[SpeedChange]: ...


class UsesSiteGrid(ABC):
    """Uses the scenario's site grid (carbon intensity in g/J, simulation time 0 at the
    site's start, and its forecast) instead of its own args."""

    @abstractmethod
    def attach_grid(self, series: GridSeries, forecast: Forecast) -> None: ...


class HasMigGeometry(ABC):
    """A placement that partitions GPUs with MIG: its placement table."""

    @abstractmethod
    def mig_geometry(self) -> MigGeometry: ...
