"""Run a scenario with ``experiment: {kind: workload_inflation}`` (the FGD paper's method,
:mod:`gputwin.scenario.experiment`) and shape the result like a simulation's.

The summary has the usual keys (no jobs are recorded) plus ``inflation``: per profile
(the scenario's first, then ``compare``), per arrived demand, means over seeds of the
GPUs left unallocated (arrived − placed demand), the idle GPUs (capacity − placed), the
fragmented GPUs (FGD's measure) and the share of capacity allocated; and, for the
scenario's profile, ``unallocated_gpus_at_full_demand`` / ``gpu_allocated_frac_at_full_demand``
(at the demand mark closest to 1.0).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError
from gputwin.run.results import SimulationResult, Timeline
from gputwin.run.summary import summarize
from gputwin.run.world import build_hardware, build_layout, read_scenario_trace
from gputwin.scenario.schema import Scenario
from gputwin.scheduling.inflation import InflationResult, inflate
from gputwin.workload.openb import read_openb_host_pods


def simulate_inflation(scenario: Scenario, catalog: Catalog) -> SimulationResult:
    """The experiment for the scenario's profile and every ``compare`` profile. Raises
    :class:`InputError` (no trace, an unknown profile)."""
    start = time.perf_counter()
    exp = scenario.experiment
    assert exp is not None
    trace = read_scenario_trace(scenario)
    if trace is None or not trace.jobs:
        raise InputError("experiment: workload_inflation needs a trace read through its "
                         "format (give workload.trace.options or cluster.from_trace)")
    layout = build_layout(scenario, build_hardware(scenario, catalog), trace.nodes)
    main = scenario.scheduler.profile or "fifo"
    hosts = _host_pods(scenario) if exp.cpu_only_pods else []
    curves: dict[str, Any] = {}
    for profile in dict.fromkeys([main, *exp.compare]):
        args = scenario.scheduler.args if profile == main else None
        runs = [inflate(profile, trace.jobs, layout, marks=exp.demand,
                        seed=scenario.seed + k, args=args, host_pods=hosts)
                for k in range(exp.seeds)]
        curves[profile] = _curve(runs)
    summary = summarize(scenario_name=scenario.name, seed=scenario.seed, jobs=[],
                        timeline=_empty_timeline(), total_gpus=layout.total_gpus,
                        end_time_s=0.0, wall_time_s=time.perf_counter() - start,
                        num_events=0, num_estimates=0)
    at = min(range(len(curves[main]["demand"])),
             key=lambda i: abs(curves[main]["demand"][i] - 1.0))
    summary["inflation"] = curves
    summary["unallocated_gpus_at_full_demand"] = curves[main]["unallocated_gpus"][at]
    summary["gpu_allocated_frac_at_full_demand"] = curves[main]["allocated_frac"][at]
    return SimulationResult(scenario_name=scenario.name, seed=scenario.seed,
                            total_gpus=layout.total_gpus, end_time_s=0.0, jobs=[],
                            timeline=_empty_timeline(), summary=summary,
                            wall_time_s=time.perf_counter() - start)


def _host_pods(scenario: Scenario) -> list[tuple[float, float]]:
    """The trace's CPU-only pods (openb only; other formats list none)."""
    trace = scenario.workload.trace
    if trace is None or trace.format != "openb":
        return []
    return read_openb_host_pods(Path(trace.path))


def _curve(runs: list[InflationResult]) -> dict[str, Any]:
    def mean(values: list[tuple[float, ...]]) -> list[float] | None:
        if not values or any(len(v) != len(values[0]) or not v for v in values):
            return None
        return [round(statistics.fmean(col), 4) for col in zip(*values, strict=True)]

    first = [r.first_failure_frac for r in runs if r.first_failure_frac is not None]
    return {
        "demand": list(runs[0].marks), "seeds": len(runs),
        "capacity_gpus": runs[0].capacity_gpus,
        "unallocated_gpus": mean([r.unallocated_gpus for r in runs]),
        "idle_gpus": mean([r.idle_gpus for r in runs]),
        "allocated_frac": mean([r.allocated_frac for r in runs]),
        "fragmented_gpus": mean([r.frag_gpus for r in runs]),
        "first_failure_frac": round(statistics.fmean(first), 4) if first else None,
        "pods_placed": statistics.fmean(r.placed for r in runs),
        "pods_failed": statistics.fmean(r.failed for r in runs),
    }


def _empty_timeline() -> Timeline:
    return Timeline(time_s=[0.0], gpus_allocated=[0], queue_length=[0])


def inflation_lines(summary: dict[str, Any]) -> list[str]:
    """Plain lines for the CLI: per profile, GPUs unallocated at each demand mark."""
    curves = summary.get("inflation")
    if not isinstance(curves, dict):
        return []
    out = ["packing experiment (pods drawn from the trace, no departures): GPUs unallocated "
           "(arrived - placed) at arrived demand"]
    for profile, c in curves.items():
        cells = ", ".join(f"{d:.0%}: {u:,.0f}" for d, u in
                          zip(c["demand"], c["unallocated_gpus"] or [], strict=False))
        out.append(f"  {profile}: {cells} (of {c['capacity_gpus']:,.0f} GPUs; "
                   f"{c['seeds']} seed(s))")
    return out
