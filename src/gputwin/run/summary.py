"""The run summary: the figures written to summary.json and shown by the CLI.

Conventions (shared with the HTML report): JCT = submit → end of *completed* jobs; wait =
submit → start of jobs that started; GPU allocation is the time-weighted mean of the
allocated-GPU step function over ``[0, end_time_s]``; GPU-hours are its integral; energy
counts completed jobs plus the part of running jobs inside the window (modelled jobs only;
trace jobs have no energy). All values are SI (seconds, joules) or fractions.

Scheduling metrics: ``bounded_slowdown`` = max(1, JCT / max(run time, τ)) over completed
jobs with τ = ``BSLD_TAU_S`` (10 s) and run time = time held over all segments;
``fragmentation_mean_frac`` = mean over scheduling cycles (with free GPUs and waiting jobs)
of the share of free GPUs no waiting job can use (a heuristic, every profile); with a
sharing placement (fgd, bestfit, gpu-packing) also FGD's measure w.r.t. the target workload
(``fgd_fragmentation_gpus_mean``/``_max``, ``fgd_fragmentation_rate_mean``,
``fgd_unallocated_gpus_mean``: :func:`fgd_metrics`); ``preemptions``/``migrations`` = totals,
``lost_gpu_hours`` = GPU-hours whose work was lost (since the last checkpoint, start-up
included); ``tenants``: per tenant jobs, GPU-hours held, share of all GPU-hours and, when
shares are given, the entitlement (share × cluster GPU-hours over the window) and usage /
entitlement. See docs/scheduling.md for every key.

Multi-tenancy (only with a ``tenancy:`` section, i.e. a ``quota`` book): ``queues`` maps
each cluster queue to its quota, jobs, waits, admissions, preemptions by reason and
GPU-hours used / borrowed / lent / lost (:func:`gputwin.scheduling.quota.queue_report`;
docs/multi-tenancy.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from gputwin.run.results import JOB_STATUSES, JobRecord, Timeline
from gputwin.scheduling.quota import QuotaBook, queue_report

BSLD_TAU_S = 10.0  # bounded-slowdown threshold (Feitelson et al.)


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
    tenant_shares: dict[str, float] | None = None,
    quota: QuotaBook | None = None,
) -> dict[str, Any]:
    """A JSON-ready dict; see the module docstring for definitions."""
    completed = [j for j in jobs if j.status == "completed"]
    window = end_time_s - (timeline.time_s[0] if timeline.time_s else 0.0)
    out: dict[str, Any] = {
        "scenario": scenario_name,
        "seed": seed,
        "total_gpus": total_gpus,
        **_job_counts(jobs),
        "end_time_s": end_time_s,
        **_job_times(jobs, completed),
        **_allocation(timeline, total_gpus, end_time_s, window),
        **_energy(jobs),
        "jobs_per_day": len(completed) * 86400.0 / end_time_s if end_time_s > 0 else None,
        "bounded_slowdown": distribution(bounded_slowdowns(completed)),
        **_fragmentation(timeline),
        **_lost_work(jobs),
        "tenants": tenant_usage(jobs, total_gpus, window, tenant_shares),
        "num_events": num_events,
        "num_perf_estimates": num_estimates,
        "wall_time_s": wall_time_s,
    }
    out.update(fgd_metrics(timeline, end_time_s))
    if quota is not None:
        out["queues"] = queue_report(quota, jobs, end_time_s)
    return out


def _job_counts(jobs: Sequence[JobRecord]) -> dict[str, Any]:
    """Jobs in all, by status, and the failed and queued ones by reason."""
    counts = {status: 0 for status in JOB_STATUSES}
    for job in jobs:
        counts[job.status] += 1
    return {"num_jobs": len(jobs), "jobs_by_status": counts,
            "failed_by_reason": _by_reason(jobs, "failed"),
            "queued_by_reason": _by_reason(jobs, "queued")}


def _job_times(jobs: Sequence[JobRecord], completed: Sequence[JobRecord]) -> dict[str, Any]:
    """Makespan (first submit → last completion), JCT and wait distributions."""
    jcts = [j.jct_s for j in completed if j.jct_s is not None]
    waits = [j.wait_time_s for j in jobs if j.wait_time_s is not None]
    first_submit = min((j.submit_time_s for j in jobs), default=None)
    last_end = max((j.end_time_s for j in completed if j.end_time_s is not None), default=None)
    return {"makespan_s": (None if last_end is None or first_submit is None
                           else last_end - first_submit),
            "jct_s": distribution(jcts), "wait_s": distribution(waits)}


def _allocation(timeline: Timeline, total_gpus: int, end_time_s: float,
                window_s: float) -> dict[str, Any]:
    """Mean and peak share of the GPUs allocated, and the GPU-hours allocated."""
    gpu_s = step_integral(timeline, end_time_s)
    return {
        "gpu_allocation_mean_frac": gpu_s / (total_gpus * window_s) if window_s > 0 else None,
        "gpu_allocation_peak_frac": max(timeline.gpus_allocated, default=0) / total_gpus,
        "gpu_hours": gpu_s / 3600.0,
    }


def _energy(jobs: Sequence[JobRecord]) -> dict[str, Any]:
    """The energy of the jobs that have one (modelled jobs), and how many they are."""
    energies = [j.energy_j for j in jobs if j.energy_j is not None]
    return {"energy_j": sum(energies) if energies else None,
            "energy_jobs_counted": len(energies)}


def _fragmentation(timeline: Timeline) -> dict[str, Any]:
    """The heuristic fragmentation's mean over the scheduling cycles sampled."""
    frag = [f for _, f in timeline.fragmentation]
    return {"fragmentation_mean_frac": float(np.mean(frag)) if frag else None,
            "fragmentation_samples": len(frag)}


def _lost_work(jobs: Sequence[JobRecord]) -> dict[str, Any]:
    """Preemptions, migrations and the GPU-hours whose work was lost."""
    return {"preemptions": sum(j.preemptions for j in jobs),
            "migrations": sum(j.migrations for j in jobs),
            "lost_gpu_hours": sum(j.lost_gpu_hours for j in jobs)}


def fgd_metrics(timeline: Timeline, end_s: float) -> dict[str, Any]:
    """FGD's fragmentation measure (Weng et al., ATC'23) w.r.t. the target workload, from
    the sharing placement's index (``timeline.fgd_fragmentation``): time-weighted means over
    ``[first sample, end_s]`` of the expected fragmented GPUs, the fragmentation rate
    (fragmented / unallocated) and the unallocated GPUs, plus the largest fragmentation.
    Empty without samples (other profiles)."""
    samples = timeline.fgd_fragmentation
    if not samples:
        return {}
    times = [t for t, *_ in samples]
    means = [_step_mean(times, [v[k] for v in samples], end_s) for k in (1, 2, 3)]
    return {
        "fgd_fragmentation_gpus_mean": means[0],
        "fgd_fragmentation_gpus_max": max(v[1] for v in samples),
        "fgd_fragmentation_rate_mean": means[1],
        "fgd_unallocated_gpus_mean": means[2],
        "fgd_fragmentation_samples": len(samples),
    }


def _step_mean(times: Sequence[float], values: Sequence[float], end_s: float) -> float:
    """Time-weighted mean of a step function over ``[times[0], end_s]`` (the last value
    when the window is empty)."""
    total = 0.0
    for i, t0 in enumerate(times):
        t1 = min(times[i + 1] if i + 1 < len(times) else end_s, end_s)
        if t1 > t0:
            total += values[i] * (t1 - t0)
    span = end_s - times[0]
    return total / span if span > 0 else float(values[-1])


def bounded_slowdowns(completed: Sequence[JobRecord], tau_s: float = BSLD_TAU_S) -> list[float]:
    """max(1, JCT / max(run, τ)) per completed job; run = time held over all segments
    (``held_s``; records without it: GPU-hours held / GPUs)."""
    out = []
    for j in completed:
        jct = j.jct_s
        if jct is None:
            continue
        if j.held_s is not None:
            run = j.held_s
        else:
            run = (j.gpu_hours * 3600.0 / j.num_gpus) if j.gpu_hours is not None else (
                j.run_time_s or 0.0)
        out.append(max(1.0, jct / max(run, tau_s)))
    return out


def _by_reason(jobs: Sequence[JobRecord], status: str) -> dict[str, int]:
    """Jobs of ``status`` counted by their reason, most frequent first."""
    return dict(Counter(j.reason or "unknown" for j in jobs if j.status == status)
                .most_common())


def tenant_usage(jobs: Sequence[JobRecord], total_gpus: int, window_s: float,
                 shares: dict[str, float] | None) -> dict[str, dict[str, Any]]:
    """Per tenant: jobs, GPU-hours held, share of the total, entitlement if shares given."""
    per: dict[str, dict[str, Any]] = {}
    for j in jobs:
        t = per.setdefault(j.tenant, {"num_jobs": 0, "gpu_hours": 0.0})
        t["num_jobs"] += 1
        t["gpu_hours"] += j.gpu_hours or 0.0
    total = sum(t["gpu_hours"] for t in per.values())
    share_sum = sum(shares.values()) if shares else 0.0
    capacity_h = total_gpus * window_s / 3600.0
    for name, t in sorted(per.items()):
        t["gpu_hours_frac"] = t["gpu_hours"] / total if total > 0 else None
        if shares:
            frac = shares.get(name, 0.0) / share_sum if share_sum > 0 else 0.0
            t["entitlement_frac"] = frac
            t["entitled_gpu_hours"] = frac * capacity_h
            t["usage_vs_entitlement"] = (t["gpu_hours"] / (frac * capacity_h)
                                         if frac > 0 and capacity_h > 0 else None)
    return dict(sorted(per.items()))
