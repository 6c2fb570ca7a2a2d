"""Time-driven plugin hooks the simulator calls after each scheduling cycle.

The framework runs a cycle only when something happens (an arrival, a completion). Carbon-
aware plugins also act on the clock, so a plugin may define any of:

- ``next_wakeup_s(now_s) -> float | None``: the next time it wants a cycle (a planned
  start, the next hourly intensity, a slack deadline); the simulator schedules one.
- ``after_cycle(fw, now_s, snapshot, result) -> None``: act on *running* jobs after the
  queue walk (e.g. suspend interruptible jobs); preemptions go into ``result``.
- ``speed_changes(now_s) -> list[SpeedChange]``: running jobs whose speed (throughput and
  power factors, e.g. under a power cap) changes now; the simulator recomputes their end.

The framework itself asks for a cycle when a permit wait ends
(:meth:`Framework.next_wakeup_s`, e.g. a MIG reconfiguration), when the profile has permit
plugins.

:func:`plugin_hooks` collects them from a :class:`Framework` (``None`` if no plugin has
any, so runs without such plugins pay nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gputwin.cluster.snapshot import ClusterSnapshot
from gputwin.energy.grid import Forecast, GridSeries
from gputwin.scheduling.api import CycleResult, CycleState, Preemption, RunningJob
from gputwin.scheduling.framework import Framework


@dataclass(frozen=True, slots=True)
class Suspension(Preemption):
    """A preemption that takes a checkpoint first: no work is lost, the job pays only its
    restart (start-up again plus the scenario's restart overhead) when it resumes."""

    checkpoint_now: bool = True


@dataclass(frozen=True, slots=True)
class SpeedChange:
    """From now on ``job_id`` progresses at ``throughput_frac`` of its uncapped speed and
    draws ``power_frac`` of its uncapped power (both in (0, 1])."""

    job_id: str
    throughput_frac: float
    power_frac: float


def suspend(fw: Framework, victim: RunningJob, now_s: float, snapshot: ClusterSnapshot,
            result: CycleResult, reason: str) -> None:
    """Stop ``victim`` at a checkpoint (appends a :class:`Suspension` to ``result``)."""
    state = CycleState(now_s=now_s, snapshot=snapshot, free=snapshot.free.copy(),
                       free_total=snapshot.free_total, running=fw.running,
                       tenant_gpus=fw.tenant_gpus, result=result)
    if fw.preempt(victim, state, reason):  # (False: started in this cycle, now un-started)
        last = result.preemptions[-1]
        result.preemptions[-1] = Suspension(last.job, last.reason)


class PluginHooks:
    """The time-driven hooks of one framework's plugins."""

    __slots__ = ("_after", "_fw", "_speed", "_wake")

    def __init__(self, fw: Framework, plugins: list[Any]) -> None:
        self._fw = fw
        self._wake: list[Callable[[float], float | None]] = [
            p.next_wakeup_s for p in plugins if callable(getattr(p, "next_wakeup_s", None))]
        self._after = [p.after_cycle for p in plugins
                       if callable(getattr(p, "after_cycle", None))]
        self._speed = [p.speed_changes for p in plugins
                       if callable(getattr(p, "speed_changes", None))]

    def after_cycle(self, now_s: float, snapshot: ClusterSnapshot, result: CycleResult) -> bool:
        """Run the after-cycle hooks; True if they added preemptions."""
        before = len(result.preemptions)
        for hook in self._after:
            hook(self._fw, now_s, snapshot, result)
        return len(result.preemptions) > before

    def speed_changes(self, now_s: float) -> list[SpeedChange]:
        out: list[SpeedChange] = []
        for hook in self._speed:
            out += hook(now_s)
        return out

    def next_wakeup_s(self, now_s: float) -> float | None:
        times = [t for t in (hook(now_s) for hook in self._wake) if t is not None]
        return min(times) if times else None


def attach_site_grid(plugins: list[Any], series: GridSeries, forecast: Forecast) -> None:
    """Make carbon plugins use the scenario's ``site:`` grid (carbon intensity in g/J with
    simulation time 0 at ``site.start``, and the site's forecast) instead of their args, so
    that what they optimise is what the energy accounting charges."""
    for plugin in plugins:
        attach = getattr(plugin, "attach_grid", None)
        if callable(attach):
            attach(series, forecast)


def plugin_hooks(scheduler: object) -> PluginHooks | None:
    """The hooks of ``scheduler``'s plugins, or ``None`` when there are none."""
    if not isinstance(scheduler, Framework):
        return None
    names = ("next_wakeup_s", "after_cycle", "speed_changes")
    plugins: list[Any] = [p for p in scheduler.plugins.all()
                          if any(callable(getattr(p, n, None)) for n in names)]
    if scheduler.plugins.permit:  # a permit WAIT ends at a time: wake the framework then
        plugins.append(scheduler)
    return PluginHooks(scheduler, plugins) if plugins else None
