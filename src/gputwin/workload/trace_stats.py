"""Summary statistics of a list of jobs (a trace or a synthetic sample), SI units.

Used to print what a trace contains and to check that a fitted generator reproduces it.
Only fixed-duration jobs contribute to the duration / GPU-time figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from gputwin.workload.job import JobSpec


def trace_stats(jobs: Sequence[JobSpec]) -> dict[str, Any]:
    """``num_jobs``, ``span_s``, ``arrival_rate_per_s``, ``gpu_hours``, ``share_by_num_gpus``,
    ``gpu_time_share_by_num_gpus``, ``fractional_share``, ``mean_duration_s``,
    ``median_duration_s``, ``p90_duration_s``, ``median_wait_s``/``mean_wait_s`` (``None``
    without recorded waits) and ``statuses`` (share by trace status, when present)."""
    n = len(jobs)
    if n == 0:
        return {"num_jobs": 0}
    submits = np.fromiter((j.submit_time_s for j in jobs), float, n)
    durations = np.fromiter((j.fixed_duration_s or 0.0 for j in jobs), float, n)
    demand = np.fromiter((j.gpu_demand for j in jobs), float, n)
    gpus = [j.num_gpus for j in jobs]
    span = float(submits.max() - submits.min())
    gpu_time = demand * durations
    total_gpu_time = float(gpu_time.sum())
    by_gpus = Counter(gpus)
    time_by_gpus: dict[int, float] = {}
    for g, t in zip(gpus, gpu_time, strict=True):
        time_by_gpus[g] = time_by_gpus.get(g, 0.0) + float(t)
    waits = np.array([j.wait_time_in_trace_s for j in jobs
                      if j.wait_time_in_trace_s is not None], dtype=float)
    statuses = Counter(j.status_in_trace for j in jobs if j.status_in_trace is not None)
    return {
        "num_jobs": n,
        "span_s": span,
        "arrival_rate_per_s": (n - 1) / span if span > 0 else None,
        "gpu_hours": total_gpu_time / 3600.0,
        "share_by_num_gpus": {g: c / n for g, c in sorted(by_gpus.items())},
        "gpu_time_share_by_num_gpus": {
            g: (t / total_gpu_time if total_gpu_time > 0 else 0.0)
            for g, t in sorted(time_by_gpus.items())},
        "fractional_share": sum(1 for j in jobs if j.is_fractional) / n,
        "mean_duration_s": float(durations.mean()),
        "median_duration_s": float(np.median(durations)),
        "p90_duration_s": float(np.percentile(durations, 90)),
        "median_wait_s": float(np.median(waits)) if waits.size else None,
        "mean_wait_s": float(waits.mean()) if waits.size else None,
        "statuses": {s: c / n for s, c in sorted(statuses.items())} if statuses else None,
    }
