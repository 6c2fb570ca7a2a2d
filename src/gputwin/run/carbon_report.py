"""Carbon saved against delay added: carbon-aware profiles vs a carbon-agnostic baseline.

:func:`compare_policies` runs the same scenario (same workload and seed) once per
scheduler profile, with the passive ``bind/carbon-meter`` added so every run segment is
recorded, and the grid settings of :class:`CarbonGrid` injected into every carbon plugin of
the profile. For each run it reports:

- ``co2e_g``: operational CO2e, location-based, direct intensity × PUE (constant
  ``CarbonGrid.pue``): each job's energy (``JobRecord.energy_j``; trace jobs without a model:
  GPU-seconds × TDP) is spread over the job's run segments in proportion to the power it
  drew (1, or the power-cap factor while capped) and integrated against the hourly intensity
  of the segment's region (node groups of ``CarbonGrid.regions``). Start-up time counts as
  running time (a small over-count of the spread, not of the energy).
- ``saved_frac``: 1 − co2e / co2e of the baseline;
- ``delay_*``: added completion delay of deferrable jobs, JCT − JCT in the baseline, over
  jobs completed in both runs (mean, p95); ``wait_*``: submit → first start;
- ``slack_hit_frac``: share of deferrable jobs that started at or after their slack limit
  (``wait >= slack``); ``forced``/``late``: released by their deadline while the policy would
  still wait / started after it (contention), from the plugins;
- ``suspensions``, ``moves``, ``egress_usd``: suspend/resume and spatial-shift counts.

When the scenario has a ``site:`` section, the energy accounting's own figure
(``summary['co2e_operational_g']``) is reported alongside as ``co2e_site_g``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.energy.grid import J_PER_KWH
from gputwin.run.results import SimulationResult
from gputwin.run.simulate import simulate_world
from gputwin.run.world import build_world
from gputwin.scenario.schema import Scenario, SchedulerConfig
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.plugins.carbon_cap import CarbonMeter, CarbonPowerCap, Segment
from gputwin.scheduling.plugins.carbon_grid import carbon_series
from gputwin.scheduling.profiles import PROFILES
from gputwin.sim.rng import RandomStreams

METER = "carbon-meter"


@dataclass(frozen=True, slots=True)
class CarbonGrid:
    """The grid every run is measured against (and handed to the carbon plugins)."""

    region: str = "GB"
    grid_data: str | None = None  # folder holding grid/carbon-2023; None = synthetic
    start: str = "2023-01-01T00:00"
    pue: float = 1.1
    regions: tuple[tuple[str, int], ...] = ()  # node groups (name, nodes); () = all in region

    def plugin_args(self, spatial: bool) -> dict[str, Any]:
        args: dict[str, Any] = {"region": self.region, "grid_data": self.grid_data,
                                "start": self.start}
        if spatial and self.regions:
            args["regions"] = [{"name": n, "nodes": k} for n, k in self.regions]
        return args

    def node_regions(self, num_nodes: int) -> list[str]:
        if not self.regions:
            return [self.region] * num_nodes
        out = [name for name, k in self.regions for _ in range(k)]
        return (out + [self.region] * num_nodes)[:num_nodes]


@dataclass(slots=True)
class PolicyOutcome:
    """One profile's run, measured (see the module docstring for definitions)."""

    profile: str
    co2e_g: float
    energy_j: float
    num_jobs: int
    completed: int
    num_deferrable: int
    delay_mean_s: float | None = None
    delay_p95_s: float | None = None
    wait_mean_s: float | None = None
    wait_p95_s: float | None = None
    slack_hit_frac: float | None = None
    saved_frac: float | None = None
    co2e_site_g: float | None = None
    plugin_stats: dict[str, float] = field(default_factory=dict)
    result: SimulationResult | None = None

    def to_dict(self) -> dict[str, Any]:
        keys = ("profile", "co2e_g", "energy_j", "num_jobs", "completed", "num_deferrable",
                "delay_mean_s", "delay_p95_s", "wait_mean_s", "wait_p95_s", "slack_hit_frac",
                "saved_frac", "co2e_site_g")
        return {k: getattr(self, k) for k in keys} | {"plugins": dict(self.plugin_stats)}


def run_policy(scenario: Scenario, profile: str, grid: CarbonGrid, *,
               plugin_args: Mapping[str, Mapping[str, Any]] | None = None,
               catalog: Catalog | None = None) -> PolicyOutcome:
    """Simulate ``scenario`` under ``profile`` with the meter attached; measure it."""
    spec = PROFILES.get(profile)
    names = [] if spec is None else [*spec.pre_filter, *spec.filter, *spec.bind]
    args: dict[str, dict[str, Any]] = {}
    for short in names:
        if short.startswith("carbon-") and short != "carbon-region":
            args[short] = grid.plugin_args(short == "carbon-spatial")
    for short, extra in (plugin_args or {}).items():
        if short in args:
            args[short].update(extra)
    bind = [*(spec.bind if spec else ()), METER]
    sched = SchedulerConfig(profile=profile, plugins={"bind": bind}, args=args,
                            checkpoint_interval=scenario.scheduler.checkpoint_interval,
                            restart_overhead=scenario.scheduler.restart_overhead)
    run_scenario = scenario.model_copy(update={"scheduler": sched})
    world = build_world(run_scenario, catalog or default_catalog(), RandomStreams(scenario.seed))
    result = simulate_world(world, name=scenario.name, seed=scenario.seed,
                            horizon_s=scenario.horizon)
    assert isinstance(world.scheduler, Framework)
    plugins = world.scheduler.plugins.all()
    meter = next(p for p in plugins if isinstance(p, CarbonMeter))
    caps = [p for p in plugins if isinstance(p, CarbonPowerCap)]
    stats: dict[str, float] = {}
    for p in plugins:
        fn = getattr(p, "stats", None)
        if callable(fn):
            stats.update(fn())
    tdp_w = world.hardware.accelerator.tdp_w
    co2e, energy = _operational(result, meter.closed(result.end_time_s), caps, grid,
                                world.layout.num_nodes, tdp_w)
    outcome = PolicyOutcome(profile=profile, co2e_g=co2e, energy_j=energy,
                            num_jobs=len(result.jobs),
                            completed=result.summary["jobs_by_status"]["completed"],
                            num_deferrable=0, plugin_stats=stats, result=result,
                            co2e_site_g=result.summary.get("co2e_operational_g"))
    _waits(outcome, world.jobs, result)
    return outcome


def _operational(result: SimulationResult, segments: list[Segment],
                 caps: list[CarbonPowerCap], grid: CarbonGrid, num_nodes: int,
                 tdp_w: float) -> tuple[float, float]:
    """(operational CO2e in g, IT energy in J) of the run (module docstring)."""
    node_region = grid.node_regions(num_nodes)
    series = {r: carbon_series(r, grid.grid_data, grid.start) for r in set(node_region)}
    log: dict[str, list[tuple[float, float]]] = {}
    for cap in caps:
        for t, job_id, pf in cap.log:
            log.setdefault(job_id, []).append((t, pf))
    per_job: dict[str, list[Segment]] = {}
    for seg in segments:
        per_job.setdefault(seg.job_id, []).append(seg)
    total_g = total_j = 0.0
    for rec in result.jobs:
        segs = per_job.get(rec.job_id)
        if not segs:
            continue
        held_s = sum((s.end_s - s.start_s) * s.num_gpus for s in segs)
        energy = rec.energy_j if rec.energy_j is not None else held_s * tdp_w
        weight = carbon = 0.0
        for seg in segs:
            ci = series[node_region[seg.nodes[0]]]
            for t0, t1, pf in _pieces(seg, log.get(rec.job_id, [])):
                weight += pf * (t1 - t0)
                carbon += pf * ci.integral(t0, t1)
        if weight > 0:
            total_g += energy * grid.pue * carbon / weight
        total_j += energy
    return total_g, total_j


def _pieces(seg: Segment, log: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """``seg`` cut at the power-cap changes inside it: (t0, t1, power factor)."""
    out, t, pf = [], seg.start_s, 1.0
    for when, factor in log:
        if when < seg.start_s or when >= seg.end_s:
            continue
        if when > t:
            out.append((t, when, pf))
            t = when
        pf = factor
    if seg.end_s > t:
        out.append((t, seg.end_s, pf))
    return out


def _waits(out: PolicyOutcome, jobs: Sequence[Any], result: SimulationResult) -> None:
    slack = {j.job_id: j.deferrable_slack_s for j in jobs if j.deferrable_slack_s is not None}
    out.num_deferrable = len(slack)
    waits = [r.wait_time_s for r in result.jobs if r.job_id in slack and r.wait_time_s is not None]
    if waits:
        out.wait_mean_s, out.wait_p95_s = float(np.mean(waits)), float(np.percentile(waits, 95))
    hits = [r for r in result.jobs if r.job_id in slack and r.wait_time_s is not None
            and r.wait_time_s >= slack[r.job_id] - 1.0]
    out.slack_hit_frac = len(hits) / len(slack) if slack else None


def compare_policies(scenario: Scenario, profiles: Sequence[str], *, grid: CarbonGrid,
                     baseline: str = "best-effort",
                     plugin_args: Mapping[str, Mapping[str, Any]] | None = None,
                     catalog: Catalog | None = None) -> list[PolicyOutcome]:
    """The baseline first, then each profile, with savings and added delays filled in."""
    base = run_policy(scenario, baseline, grid, plugin_args=plugin_args, catalog=catalog)
    base.saved_frac = 0.0
    outs = [base]
    base_jct = {r.job_id: r.jct_s for r in base.result.jobs} if base.result else {}
    for profile in profiles:
        out = run_policy(scenario, profile, grid, plugin_args=plugin_args, catalog=catalog)
        out.saved_frac = 1.0 - out.co2e_g / base.co2e_g if base.co2e_g > 0 else None
        assert out.result is not None
        deferrable = {j.job_id for j in out.result.jobs} if out.num_deferrable else set()
        delays = [r.jct_s - b for r in out.result.jobs
                  if r.job_id in deferrable and r.jct_s is not None
                  and (b := base_jct.get(r.job_id)) is not None]
        if delays:
            out.delay_mean_s = float(np.mean(delays))
            out.delay_p95_s = float(np.percentile(delays, 95))
        outs.append(out)
    return outs


def format_table(outcomes: Sequence[PolicyOutcome]) -> str:
    """A plain-text table: CO2e, saving, added delay, slack hits per profile."""
    head = (f"{'profile':<18}{'CO2e t':>10}{'saved':>8}{'delay mean h':>14}"
            f"{'delay p95 h':>13}{'slack hit':>11}")
    rows = [head]
    for o in outcomes:
        def h(x: float | None) -> str:
            return "-" if x is None else f"{x / 3600:.1f}"
        saved = "-" if o.saved_frac is None else f"{o.saved_frac:.1%}"
        hit = "-" if o.slack_hit_frac is None else f"{o.slack_hit_frac:.0%}"
        rows.append(f"{o.profile:<18}{o.co2e_g / 1e6:>10.2f}{saved:>8}{h(o.delay_mean_s):>14}"
                    f"{h(o.delay_p95_s):>13}{hit:>11}")
    return "\n".join(rows)


def g_per_kwh_mean(co2e_g: float, energy_j: float, pue: float) -> float:
    """Effective intensity of a run: g CO2e per kWh of facility energy."""
    return co2e_g / (energy_j * pue / J_PER_KWH) if energy_j > 0 else 0.0
