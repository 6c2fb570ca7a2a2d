"""Carbon-aware power capping, and a passive meter of run segments.

``bind/carbon-power-cap``: while the grid intensity is above ``threshold_g_per_kwh``, every
running job (or only deferrable ones) runs with its GPUs capped at ``cap_w`` (or
``cap_frac_of_tdp`` × TDP; default 0.6 × TDP above 200 g/kWh). The operating point comes from
:func:`gputwin.perf.power.apply_power_cap` at the training activity of a step that is
``compute_bound_frac`` compute: the job progresses at ``throughput_frac`` of its speed and
its GPUs draw ``power_frac`` of their uncapped power. The simulator recomputes the job's
remaining time whenever the cap changes (``speed_changes`` hook, checked every hour while
jobs run). ``power_frac`` is that of a GPU slot with its host share (the host is not
capped), so it applies to the job's whole modelled energy.

``bind/carbon-meter``: records every run segment (start, stop, nodes, GPUs) from the
framework's start/stop hooks, for the carbon report (run/carbon_report.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, model_validator

from gputwin.catalog.loader import default_catalog
from gputwin.energy.grid import Forecast, GridSeries
from gputwin.errors import InputError
from gputwin.perf.power import (
    accelerator_power_w,
    apply_power_cap,
    default_power_coefficients,
    host_power_w,
    training_activity_frac,
)
from gputwin.scheduling.api import BindPlugin, PluginArgs, PluginContext, RunningJob
from gputwin.scheduling.hooks import ChangesSpeed, SpeedChange, UsesSiteGrid, WakesUp
from gputwin.scheduling.plugins.carbon_grid import GridArgs, Wakeups, next_step_s, series_for
from gputwin.topology.hardware import default_system_for

WHERE = "scheduler.args.carbon-power-cap"


class PowerCapArgs(GridArgs):
    threshold_g_per_kwh: float = Field(default=200.0, gt=0,
                                       description="cap while intensity is above")
    cap_w: float | None = Field(default=None, gt=0, description="per-GPU cap (W)")
    cap_frac_of_tdp: float | None = Field(default=None, gt=0, le=1)
    compute_bound_frac: float = Field(default=0.8, ge=0, le=1,
                                      description="share of the step a lower clock slows")
    only_deferrable: bool = False

    @model_validator(mode="after")
    def _one_cap(self) -> PowerCapArgs:
        if self.cap_w is not None and self.cap_frac_of_tdp is not None:
            raise ValueError("give one of cap_w or cap_frac_of_tdp, not both")
        if self.cap_w is None and self.cap_frac_of_tdp is None:
            object.__setattr__(self, "cap_frac_of_tdp", 0.6)
        return self


class CarbonPowerCap(BindPlugin, WakesUp, ChangesSpeed, UsesSiteGrid):
    """Cap GPU power of running jobs during high-intensity hours (module docstring)."""

    name = "bind/carbon-power-cap"
    Args = PowerCapArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, PowerCapArgs)
        self.a = args
        self.series = series_for(args)
        try:
            acc = default_catalog().accelerator(ctx.gpu_type)
        except InputError as exc:
            raise InputError(f"cannot cap an unknown GPU: {exc.detail}", where=WHERE) from None
        cap = args.cap_w if args.cap_w is not None else (args.cap_frac_of_tdp or 1.0) * acc.tdp_w
        k = default_power_coefficients()
        activity = training_activity_frac(args.compute_bound_frac, k.wait_activity_frac)
        try:
            point = apply_power_cap(acc, activity, cap, compute_bound_frac=args.compute_bound_frac)
        except InputError as exc:
            raise InputError(exc.detail, where=f"{WHERE}.cap_w") from None
        system = default_system_for(default_catalog(), acc.name)
        host = host_power_w(system, activity, k) / system.num_accelerators  # not capped
        uncapped = accelerator_power_w(acc, activity) + host
        self.capped = (point.throughput_frac, (point.power_w + host) / uncapped)
        self.current: dict[str, tuple[float, float]] = {}
        self.specs: dict[str, bool] = {}  # job id -> deferrable
        self.log: list[tuple[float, str, float]] = []  # (time, job id, power_frac)
        self.wakeups = Wakeups()
        self.changes = 0

    def attach_grid(self, series: GridSeries, forecast: Forecast) -> None:
        """Use the site's grid instead of the args' (carbon_hooks.attach_site_grid)."""
        self.series = series

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self.current[job.job_id] = (1.0, 1.0)  # every segment starts uncapped
        self.specs[job.job_id] = job.spec.deferrable_slack_s is not None

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        self.current.pop(job.job_id, None)

    def speed_changes(self, now_s: float) -> list[SpeedChange]:
        if not self.current:
            return []
        high = self.series.at(now_s) * 3.6e6 > self.a.threshold_g_per_kwh
        out = []
        for job_id, now_point in self.current.items():
            eligible = self.specs[job_id] or not self.a.only_deferrable
            want = self.capped if (high and eligible) else (1.0, 1.0)
            if want != now_point:
                self.current[job_id] = want
                self.log.append((now_s, job_id, want[1]))
                out.append(SpeedChange(job_id, want[0], want[1]))
        self.changes += len(out)
        self.wakeups.add(next_step_s(self.series, now_s))
        return out

    def next_wakeup_s(self, now_s: float) -> float | None:
        return self.wakeups.next_after(now_s) if self.current else None

    def stats(self) -> dict[str, float]:
        return {"cap_changes": self.changes, "throughput_frac": self.capped[0],
                "power_frac": self.capped[1]}


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch a job held GPUs: ``[start_s, end_s)`` on ``nodes``."""

    job_id: str
    start_s: float
    end_s: float
    nodes: tuple[int, ...]
    num_gpus: int


class CarbonMeter(BindPlugin):
    """Passive: records run segments (never changes a decision)."""

    name = "bind/carbon-meter"

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self.segments: list[Segment] = []
        self.open: dict[str, tuple[float, tuple[int, ...], int]] = {}

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self.open[job.job_id] = (now_s, tuple(job.placement.nodes), job.placement.num_gpus)

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        seg = self.open.pop(job.job_id, None)
        if seg is not None:
            self.segments.append(Segment(job.job_id, seg[0], now_s, seg[1], seg[2]))

    def closed(self, end_s: float) -> list[Segment]:
        """All segments, the open ones cut at ``end_s``."""
        tail = [Segment(j, t0, max(t0, end_s), n, g) for j, (t0, n, g) in self.open.items()]
        return [*self.segments, *tail]
