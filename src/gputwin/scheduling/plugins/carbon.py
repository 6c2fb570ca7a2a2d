"""Carbon-aware temporal shifting: pre-filter plugins that delay deferrable jobs.

A job is *deferrable* when ``JobSpec.deferrable_slack_s`` is set. Its *finish deadline* is
``submit + slack + expected run time`` (``slack_counts: start``, default: the start may be
up to ``slack`` late) or ``submit + slack`` (``slack_counts: finish``: the job must finish
within ``slack`` of its submission, "Let's Wait Awhile" style). Its *latest start* is the
finish deadline minus the expected run time still left (so a suspended job keeps its
deadline). At or after the latest start a job is always released (``forced`` when the
policy would still have waited; both are counted in :meth:`stats`). Jobs without slack
pass straight through. Use these with ``best-effort`` queueing, so a held job does not
block the queue behind it.

- ``pre-filter/carbon-threshold``: start only while the current intensity is at or below
  ``threshold_g_per_kwh``, or below the ``percentile`` of the forecast over the job's
  window ``[now, latest start + run time]`` (default: the 25th percentile).
- ``pre-filter/carbon-window``: at its first cycle, plan the start in ``[now, latest
  start]`` that minimises the forecast emissions of the run time; hold it until then.
- ``pre-filter/carbon-suspend``: the threshold rule, plus *suspend* running interruptible
  deferrable jobs (at a checkpoint: only the restart is paid) while the intensity is above
  the threshold, as long as the deadline leaves them at least ``min_suspend_s``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from gputwin.energy.grid import J_PER_KWH, Forecast, GridSeries
from gputwin.scheduling.api import (
    CycleState,
    PluginArgs,
    PluginContext,
    PreFilterPlugin,
    QueuedJob,
    RunningJob,
)
from gputwin.scheduling.hooks import SchedulerHandle, SuspendsJobs, UsesSiteGrid, WakesUp
from gputwin.scheduling.plugins.carbon_grid import (
    EPS_S,
    GridArgs,
    Wakeups,
    forecast_costs,
    g_per_kwh,
    make_forecast,
    next_step_s,
    series_for,
)
from gputwin.scheduling.status import SUCCESS, Status
from gputwin.workload.job import JobSpec


class DeferralArgs(GridArgs):
    slack_counts: Literal["start", "finish"] = Field(
        default="start", description="slack bounds the start delay, or the finish time")


class _Deferral(PreFilterPlugin, WakesUp, UsesSiteGrid):
    """Shared bookkeeping: deadlines, forced releases, late starts, wake-ups."""

    Args = DeferralArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, DeferralArgs)
        self.a = args
        self.series = series_for(args)
        self.forecast = make_forecast(args, self.series)
        self.wakeups = Wakeups()
        self._full_s: dict[str, float] = {}
        self._latest: dict[str, float] = {}
        self.forced: dict[str, float] = {}  # job id -> time released by its deadline
        self.late: dict[str, float] = {}  # job id -> seconds started after its latest start
        self.released = 0

    # -- deadlines -----------------------------------------------------------------------------

    def finish_deadline_s(self, spec: JobSpec) -> float:
        slack = spec.deferrable_slack_s or 0.0
        if self.a.slack_counts == "finish":
            return spec.submit_time_s + slack
        full = self._full_s.get(spec.job_id)
        if full is None:
            full = self._full_s[spec.job_id] = max(0.0, self.ctx.estimate_runtime(spec))
        return spec.submit_time_s + slack + full

    def latest_start_s(self, job: QueuedJob) -> float:
        latest = max(job.spec.submit_time_s,
                     self.finish_deadline_s(job.spec) - job.est_runtime_s)
        self._latest[job.job_id] = latest
        return latest

    # -- the extension point -------------------------------------------------------------------

    def pre_filter(self, job: QueuedJob, state: CycleState) -> Status:
        if job.spec.deferrable_slack_s is None:
            return SUCCESS
        now = state.now_s
        latest = self.latest_start_s(job)
        if self.go(job, now, latest):
            return SUCCESS
        if now >= latest - EPS_S:
            self.forced.setdefault(job.job_id, now)
            return SUCCESS
        self.wakeups.add(latest)
        wake = self.wake_s(job, now, latest)
        self.wakeups.add(min(wake, latest))
        return Status.unschedulable(
            f"carbon: {self.why(job, now)}; latest start in {latest - now:.0f} s", self.name)

    def next_wakeup_s(self, now_s: float) -> float | None:
        return self.wakeups.next_after(now_s)

    def attach_grid(self, series: GridSeries, forecast: Forecast) -> None:
        """Use the site's grid and forecast instead of the args' (carbon_hooks)."""
        self.series, self.forecast = series, forecast

    def on_start(self, job: RunningJob, now_s: float) -> None:
        latest = self._latest.get(job.job_id)
        if latest is None:
            return
        self.released += 1
        if now_s > latest + 1.0:
            self.late[job.job_id] = max(self.late.get(job.job_id, 0.0), now_s - latest)

    def on_migrate(self, old: RunningJob, new: RunningJob, now_s: float) -> None:
        """A move is not a release (the job already started)."""

    def stats(self) -> dict[str, float]:
        return {"released": self.released, "forced": len(self.forced), "late": len(self.late)}

    # -- policy (subclasses) -------------------------------------------------------------------

    def go(self, job: QueuedJob, now_s: float, latest_s: float) -> bool:
        raise NotImplementedError

    def wake_s(self, job: QueuedJob, now_s: float, latest_s: float) -> float:
        return next_step_s(self.series, now_s)

    def why(self, job: QueuedJob, now_s: float) -> str:
        return "waiting for lower carbon intensity"


DEFAULT_PERCENTILE = 25.0  # threshold rule when neither is given


class ThresholdArgs(DeferralArgs):
    threshold_g_per_kwh: float | None = Field(default=None, gt=0,
                                              description="absolute threshold (g CO2e/kWh)")
    percentile: float | None = Field(default=None, gt=0, lt=100,
                                     description="percentile of the forecast window")

    @model_validator(mode="after")
    def _one_rule(self) -> ThresholdArgs:
        if self.threshold_g_per_kwh is not None and self.percentile is not None:
            raise ValueError("give one of threshold_g_per_kwh or percentile, not both")
        if self.threshold_g_per_kwh is None and self.percentile is None:
            object.__setattr__(self, "percentile", DEFAULT_PERCENTILE)
        return self


class CarbonThreshold(_Deferral):
    """Start deferrable jobs only while the intensity is low (see module docstring)."""

    name = "pre-filter/carbon-threshold"
    Args = ThresholdArgs

    def threshold_g_per_j(self, now_s: float, window_end_s: float) -> float:
        assert isinstance(self.a, ThresholdArgs)
        if self.a.threshold_g_per_kwh is not None:
            return self.a.threshold_g_per_kwh / J_PER_KWH
        period_s = self.series.values.size * self.series.step_s  # the profile repeats after
        horizon_s = min(max(window_end_s - now_s, self.series.step_s), period_s)
        pred = self.forecast.predict(now_s, horizon_s)
        return float(np.percentile(pred, self.a.percentile or DEFAULT_PERCENTILE))

    def go(self, job: QueuedJob, now_s: float, latest_s: float) -> bool:
        thr = self.threshold_g_per_j(now_s, latest_s + job.est_runtime_s)
        return self.series.at(now_s) <= thr * (1 + 1e-12)

    def why(self, job: QueuedJob, now_s: float) -> str:
        return (f"intensity {g_per_kwh(self.series.at(now_s)):.0f} g/kWh above the "
                "threshold")


class CarbonWindow(_Deferral):
    """Plan each deferrable job's start at the forecast's lowest-emission window."""

    name = "pre-filter/carbon-window"
    Args = DeferralArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self._plan: dict[str, tuple[float, float]] = {}  # job id -> (enqueue time, start)

    def planned_start_s(self, job: QueuedJob, now_s: float, latest_s: float) -> float:
        key = self._plan.get(job.job_id)
        if key is not None and key[0] == job.enqueue_s:
            return key[1]
        runtime = max(job.est_runtime_s, 1.0)
        starts, costs = forecast_costs(self.forecast, self.series, now_s, latest_s, runtime)
        best = float(costs.min())
        start = float(starts[int(np.flatnonzero(costs <= best * (1 + 1e-9) + 1e-30)[0])])
        self._plan[job.job_id] = (job.enqueue_s, start)
        return start

    def go(self, job: QueuedJob, now_s: float, latest_s: float) -> bool:
        return now_s >= self.planned_start_s(job, now_s, latest_s) - EPS_S

    def wake_s(self, job: QueuedJob, now_s: float, latest_s: float) -> float:
        return self.planned_start_s(job, now_s, latest_s)

    def why(self, job: QueuedJob, now_s: float) -> str:
        start = self._plan[job.job_id][1]
        return f"planned start in {start - now_s:.0f} s (lowest forecast emissions)"


class SuspendArgs(ThresholdArgs):
    min_suspend_s: float = Field(default=3600.0, gt=0,
                                 description="suspend only if it can stay off this long")
    min_remaining_s: float = Field(default=900.0, ge=0,
                                   description="never suspend a job this close to its end")


class CarbonSuspend(CarbonThreshold, SuspendsJobs):
    """The threshold rule, plus suspend/resume of running interruptible jobs."""

    name = "pre-filter/carbon-suspend"
    Args = SuspendArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self.suspensions = 0

    def after_cycle(self, handle: SchedulerHandle,
                    now_s: float) -> list[tuple[RunningJob, str]]:
        assert isinstance(self.a, SuspendArgs)
        watched = False
        out: list[tuple[RunningJob, str]] = []
        for run in list(handle.running.values()):
            spec = run.spec
            if not spec.interruptible or spec.deferrable_slack_s is None:
                continue
            remaining = max(0.0, run.est_end_s - now_s)
            latest_resume = self.finish_deadline_s(spec) - remaining
            if latest_resume - now_s < self.a.min_suspend_s or remaining <= self.a.min_remaining_s:
                continue
            watched = True
            if run.start_s >= now_s or self.go_running(run, now_s, latest_resume):
                continue
            out.append((run, f"carbon: suspended at {g_per_kwh(self.series.at(now_s)):.0f} g/kWh"))
            self.suspensions += 1
        if watched:
            self.wakeups.add(next_step_s(self.series, now_s))
        return out

    def go_running(self, run: RunningJob, now_s: float, latest_resume_s: float) -> bool:
        remaining = max(0.0, run.est_end_s - now_s)
        thr = self.threshold_g_per_j(now_s, latest_resume_s + remaining)
        return self.series.at(now_s) <= thr * (1 + 1e-12)

    def stats(self) -> dict[str, float]:
        return {**super().stats(), "suspensions": self.suspensions}
