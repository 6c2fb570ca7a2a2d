"""Starts, stops and moves of running jobs, as the scheduling framework records them.

:class:`Lifecycle` keeps the :class:`~gputwin.scheduling.running.RunningSet`, bumps
``version`` on every change (backfill caches key on it) and calls the lifecycle hooks
(``on_start``, ``on_stop``, ``on_migrate``) of the plugins that override them. It knows
nothing of the queue or of a cycle's result: the framework decides, this records.
"""

from __future__ import annotations

from collections.abc import Iterable

from gputwin.cluster.ledger import Placement
from gputwin.scheduling.api import Plugin, RunningJob
from gputwin.scheduling.running import RunningSet


def _has_lifecycle_hook(plugin: Plugin) -> bool:
    cls = type(plugin)
    return (cls.on_start is not Plugin.on_start or cls.on_stop is not Plugin.on_stop
            or cls.on_migrate is not Plugin.on_migrate)


class Lifecycle:
    """The running jobs, their change counter and the plugins told of each change."""

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self.runs = RunningSet()
        self.version = 0  # bumped when the running set changes
        self._hooks = [p for p in plugins if _has_lifecycle_hook(p)]

    def start(self, run: RunningJob, seq: int, now_s: float) -> None:
        """``run`` starts now (``seq`` orders equal expected ends)."""
        self.runs.add(run, seq)
        self.version += 1
        for plugin in self._hooks:
            plugin.on_start(run, now_s)

    def finish(self, job_id: str, now_s: float) -> None:
        """``job_id`` ended or failed (nothing when it is not running)."""
        run = self.runs.remove(job_id)
        if run is None:
            return
        self.version += 1
        for plugin in self._hooks:
            plugin.on_stop(run, now_s, False)

    def preempt(self, victim: RunningJob, now_s: float) -> None:
        """``victim`` is stopped by the scheduler (preemption, suspension)."""
        self.runs.remove(victim.job_id)
        self.version += 1
        for plugin in self._hooks:
            plugin.on_stop(victim, now_s, True)

    def move(self, job: RunningJob, placement: Placement, now_s: float) -> None:
        """Running ``job`` continues on ``placement`` from now (migration, hot spare)."""
        old = RunningJob(job.spec, job.placement, job.start_s, job.est_end_s)
        job.placement = placement
        self.version += 1
        for plugin in self._hooks:
            plugin.on_migrate(old, job, now_s)
