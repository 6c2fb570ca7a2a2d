"""Figures a capacity planner reads first, derived from a :class:`SimulationResult`.

The report computes its own statistics from the per-job records and the timeline rather
than trusting ``result.summary`` keys, so every number on the page can be traced to the
raw data. Conventions:

* JCT (job completion time) is submit → end of *completed* jobs only.
* Wait is submit → start of jobs that started (completed, failed or still running); jobs
  still queued at the end are counted separately, not as a wait.
* Timeline values are step functions: ``v[i]`` holds on ``[t[i], t[i+1])`` and the last
  value holds until ``result.end_time_s``.
* GPU-hours of a job: ``num_gpus × (min(end, horizon) − start)``; running jobs are
  charged up to the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gputwin.run.results import JOB_STATUSES, JobRecord, SimulationResult


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks.

    Same definition as ``numpy.percentile``'s default. ``None`` for an empty sequence.
    """
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, ``None`` for an empty sequence."""
    return sum(values) / len(values) if values else None


def step_integral(time_s: Sequence[float], values: Sequence[float], end_s: float) -> float:
    """∫ v dt of a step function from ``time_s[0]`` to ``end_s`` (value·seconds).

    Samples after ``end_s`` are ignored; an empty series integrates to 0.
    """
    total = 0.0
    n = min(len(time_s), len(values))
    for i in range(n):
        t0 = time_s[i]
        t1 = time_s[i + 1] if i + 1 < n else end_s
        t1 = min(t1, end_s)
        if t1 > t0:
            total += values[i] * (t1 - t0)
    return total


def step_mean(time_s: Sequence[float], values: Sequence[float], end_s: float) -> float | None:
    """Time-weighted mean of a step function over ``[time_s[0], end_s]``.

    ``None`` when the window has zero length (no samples, or everything at one instant).
    """
    if not time_s or end_s <= time_s[0]:
        return None
    return step_integral(time_s, values, end_s) / (end_s - time_s[0])


def job_gpu_seconds(job: JobRecord, horizon_s: float) -> float:
    """GPU·seconds a job held, charging running jobs up to ``horizon_s``."""
    if job.start_time_s is None:
        return 0.0
    end = horizon_s if job.end_time_s is None else min(job.end_time_s, horizon_s)
    return job.num_gpus * max(0.0, end - job.start_time_s)


def gpu_hours_by(
    jobs: Sequence[JobRecord], key: Callable[[JobRecord], str], horizon_s: float
) -> list[tuple[str, float]]:
    """GPU-hours per group, largest first (ties by name, for a stable order)."""
    totals: dict[str, float] = {}
    for job in jobs:
        name = key(job)
        totals[name] = totals.get(name, 0.0) + job_gpu_seconds(job, horizon_s) / 3600.0
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True, slots=True)
class KeyFigures:
    """The numbers on the report's cards. ``None`` means "does not exist for this run"."""

    num_jobs: int
    status_counts: dict[str, int]
    mean_jct_s: float | None
    p95_jct_s: float | None
    mean_wait_s: float | None
    p95_wait_s: float | None
    num_started: int
    mean_allocated_frac: float | None
    peak_allocated_frac: float | None
    gpu_hours: float
    energy_j: float | None


def _energy_j(result: SimulationResult) -> float | None:
    """``summary["energy_j"]`` when the run reports it, else the sum of per-job energy."""
    value = result.summary.get("energy_j")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    per_job = [j.energy_j for j in result.jobs if j.energy_j is not None]
    return sum(per_job) if per_job else None


def key_figures(result: SimulationResult) -> KeyFigures:
    """Compute the card figures; never raises on empty runs."""
    jobs = result.jobs
    counts: dict[str, int] = {status: 0 for status in JOB_STATUSES}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    jcts = [j.jct_s for j in jobs if j.status == "completed" and j.jct_s is not None]
    waits = [j.wait_time_s for j in jobs if j.wait_time_s is not None]
    tl = result.timeline
    horizon = result.end_time_s
    if tl.time_s:
        gpu_s = step_integral(tl.time_s, tl.gpus_allocated, horizon)
        mean_alloc = step_mean(tl.time_s, tl.gpus_allocated, horizon)
        peak: float | None = float(max(tl.gpus_allocated, default=0))
    else:
        gpu_s = sum(job_gpu_seconds(j, horizon) for j in jobs)
        mean_alloc = gpu_s / horizon if horizon > 0 else None
        peak = None
    total = result.total_gpus
    return KeyFigures(
        num_jobs=len(jobs),
        status_counts=counts,
        mean_jct_s=mean(jcts),
        p95_jct_s=percentile(jcts, 95.0),
        mean_wait_s=mean(waits),
        p95_wait_s=percentile(waits, 95.0),
        num_started=len(waits),
        mean_allocated_frac=None if mean_alloc is None or total <= 0 else mean_alloc / total,
        peak_allocated_frac=None if peak is None or total <= 0 else peak / total,
        gpu_hours=gpu_s / 3600.0,
        energy_j=_energy_j(result),
    )
