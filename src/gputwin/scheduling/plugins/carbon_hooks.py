"""The simulator's side of the time-driven hooks (declared in :mod:`gputwin.scheduling.hooks`).

The framework runs a cycle only when something happens (an arrival, a completion). Carbon-
aware plugins also act on the clock: :class:`~gputwin.scheduling.hooks.WakesUp` (the next
time a plugin wants a cycle), :class:`~gputwin.scheduling.hooks.SuspendsJobs` (running jobs
to stop at a checkpoint after the queue walk; the framework stops them) and
:class:`~gputwin.scheduling.hooks.ChangesSpeed` (running jobs whose speed changes now).
The framework itself asks for a cycle when a permit wait ends
(:meth:`Framework.next_wakeup_s`, e.g. a MIG reconfiguration), when the profile has permit
plugins.

:func:`plugin_hooks` collects them from a :class:`Framework` (``None`` if no plugin has
any, so runs without such plugins pay nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gputwin.cluster.snapshot import ClusterSnapshot
from gputwin.energy.grid import Forecast, GridSeries
from gputwin.scheduling.api import CycleResult, CycleState, Plugin, Preemption, RunningJob
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.hooks import ChangesSpeed, SpeedChange, SuspendsJobs, UsesSiteGrid, WakesUp

__all__ = ["PluginHooks", "SpeedChange", "Suspension", "attach_site_grid", "plugin_hooks",
           "suspend"]


@dataclass(frozen=True, slots=True)
class Suspension(Preemption):
    """A preemption that takes a checkpoint first: no work is lost, the job pays only its
    restart (start-up again plus the scenario's restart overhead) when it resumes."""

    checkpoint_now: bool = True


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

    def __init__(self, fw: Framework, plugins: Sequence[Plugin]) -> None:
        self._fw = fw
        self._wake: list[Callable[[float], float | None]] = [
            p.next_wakeup_s for p in plugins if isinstance(p, WakesUp)]
        if fw.plugins.permit:  # a permit WAIT ends at a time: wake the framework then
            self._wake.append(fw.next_wakeup_s)
        self._after = [p for p in plugins if isinstance(p, SuspendsJobs)]
        self._speed = [p for p in plugins if isinstance(p, ChangesSpeed)]

    def after_cycle(self, now_s: float, snapshot: ClusterSnapshot, result: CycleResult) -> bool:
        """Run the after-cycle hooks, stop the jobs they name; True if any was stopped."""
        before = len(result.preemptions)
        for plugin in self._after:
            for victim, reason in plugin.after_cycle(self._fw, now_s):
                if victim.job_id in self._fw.running:
                    suspend(self._fw, victim, now_s, snapshot, result, reason)
        return len(result.preemptions) > before

    def speed_changes(self, now_s: float) -> list[SpeedChange]:
        out: list[SpeedChange] = []
        for plugin in self._speed:
            out += plugin.speed_changes(now_s)
        return out

    def next_wakeup_s(self, now_s: float) -> float | None:
        times = [t for t in (hook(now_s) for hook in self._wake) if t is not None]
        return min(times) if times else None


def attach_site_grid(plugins: list[Plugin], series: GridSeries, forecast: Forecast) -> None:
    """Make carbon plugins use the scenario's ``site:`` grid (carbon intensity in g/J with
    simulation time 0 at ``site.start``, and the site's forecast) instead of their args, so
    that what they optimise is what the energy accounting charges."""
    for plugin in plugins:
        if isinstance(plugin, UsesSiteGrid):
            plugin.attach_grid(series, forecast)


def plugin_hooks(scheduler: object) -> PluginHooks | None:
    """The hooks of ``scheduler``'s plugins, or ``None`` when there are none."""
    if not isinstance(scheduler, Framework):
        return None
    plugins = [p for p in scheduler.plugins.all()
               if isinstance(p, WakesUp | SuspendsJobs | ChangesSpeed)]
    if not plugins and not scheduler.plugins.permit:
        return None
    return PluginHooks(scheduler, plugins)
