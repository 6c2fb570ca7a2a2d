"""The run summary: the figures written to summary.json and shown by the CLI.

Conventions (shared with the HTML report): JCT = submit → end of *completed* jobs; wait =
submit → start of jobs that started; GPU allocation is the time-weighted mean of the
allocated-GPU step function over ``[0, end_time_s]``; GPU-hours are its integral; energy
counts completed jobs plus the part of running jobs inside the window (modelled jobs only;
trace jobs have no energy). All values are SI (seconds, joules) or fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gputwin.run.results import JOB_STATUSES, JobRecord, Timeline


def distribution(values: Sequence[float]) -> dict[str, float | None]:
    """mean, p50, p95, p99 and max (``None`` when there are no values)."""
    if not values:
        return {"mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    arr = np.asarray(values, dtype=float)
    p50, p95, p99 = (float(x) for x in np.percentile(arr, [50, 95, 99]))
    return {"mean": float(arr.mean()), "p50": p50, "p95": p95, "p99": p99,
            "max": float(arr.max())}


def step_integral(timeline: Timeline, end_s: float) -> float:
    """∫ gpus_allocated dt over ``[time_s[0], end_s]`` (GPU·seconds)."""
    t, v = timeline.time_s, timeline.gpus_allocated
    total = 0.0
    for i in range(len(t)):
        t1 = min(t[i + 1] if i + 1 < len(t) else end_s, end_s)
        if t1 > t[i]:
            total += v[i] * (t1 - t[i])
    return total


def summarize(
    *,
    scenario_name: str,
    seed: int,
    jobs: Sequence[JobRecord],
    timeline: Timeline,
    total_gpus: int,
    end_time_s: float,
    wall_time_s: float,
    num_events: int,
    num_estimates: int,
) -> dict[str, Any]:
    """A JSON-ready dict; see the module docstring for definitions."""
    counts = {status: 0 for status in JOB_STATUSES}
    for job in jobs:
        counts[job.status] += 1
    completed = [j for j in jobs if j.status == "completed"]
    jcts = [j.jct_s for j in completed if j.jct_s is not None]
    waits = [j.wait_time_s for j in jobs if j.wait_time_s is not None]
    gpu_s = step_integral(timeline, end_time_s)
    window = end_time_s - (timeline.time_s[0] if timeline.time_s else 0.0)
    energies = [j.energy_j for j in jobs if j.energy_j is not None]
    first_submit = min((j.submit_time_s for j in jobs), default=None)
    last_end = max((j.end_time_s for j in completed if j.end_time_s is not None), default=None)
    return {
        "scenario": scenario_name,
        "seed": seed,
        "total_gpus": total_gpus,
        "num_jobs": len(jobs),
        "jobs_by_status": counts,
        "end_time_s": end_time_s,
        "makespan_s": (None if last_end is None or first_submit is None
                       else last_end - first_submit),
        "jct_s": distribution(jcts),
        "wait_s": distribution(waits),
        "gpu_allocation_mean_frac": gpu_s / (total_gpus * window) if window > 0 else None,
        "gpu_allocation_peak_frac": max(timeline.gpus_allocated, default=0) / total_gpus,
        "gpu_hours": gpu_s / 3600.0,
        "energy_j": sum(energies) if energies else None,
        "energy_jobs_counted": len(energies),
        "jobs_per_day": len(completed) / (end_time_s / 86400.0) if end_time_s > 0 else None,
        "num_events": num_events,
        "num_perf_estimates": num_estimates,
        "wall_time_s": wall_time_s,
    }
