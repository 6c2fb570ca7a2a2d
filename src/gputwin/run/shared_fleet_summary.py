"""The summary of a shared fleet: training and serving metrics side by side.

``summary`` keeps every key of a cluster run (jobs, JCT, wait, preemptions: of the
training jobs; ``gpu_hours`` and the GPU allocation come from the allocation timeline and
count serving replicas too) and adds:

- ``serving``: requests by status and, per service, the serving metrics of a serving run
  (TTFT/TPOT/ITL/end-to-end percentiles, throughput, goodput, SLO attainment, replicas);
- ``fleet``: how the two shared the GPUs — GPU-hours and time-weighted mean GPUs of each,
  the mean by hour of day (inference by day, training by night), replicas started and
  how long they waited for GPUs, training preemptions caused by serving and the
  GPU-hours of work they lost, and ``accounted``: every job and request has exactly one
  final status.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from gputwin.run.results import SimulationResult
from gputwin.run.serving_results import ReplicaRecord, ServingResult
from gputwin.run.serving_summary import (
    ServiceMeta,
    replica_records,
    request_counts,
    request_table,
    summarize_service,
    timeline_data,
)
from gputwin.serving.fleet import FleetOutcome
from gputwin.workload.llm_request import LlmRequest

if TYPE_CHECKING:
    from gputwin.run.shared_fleet import SharedRun
    from gputwin.serving.cluster_fleet import ClusterFleet

_GRID_S = 60.0  # resolution of the hour-of-day profile


def shared_result(cluster: SimulationResult, run: SharedRun, fleet: ClusterFleet,
                  outcome: FleetOutcome, metas: Sequence[ServiceMeta],
                  requests: Sequence[LlmRequest], wall_start: float, *,
                  trace: dict[str, Any] | None = None) -> SimulationResult:
    """``cluster`` (the training side's result) with the serving side and the fleet
    section added to its summary, and the requests attached (``result.serving``);
    ``trace``: the replayed serving trace's fields (``serving_requests.trace_fields``)."""
    by_name = {m.name: m for m in metas}
    table = request_table(outcome.states, by_name)
    replicas = replica_records(outcome)
    timelines = {name: timeline_data(tl) for name, tl in outcome.timelines.items()}
    start = min((r.arrival_time_s for r in requests), default=0.0)
    services = {
        name: summarize_service(meta, table, timelines[name], outcome.itl.get(name),
                                start_s=start, end_s=outcome.end_s,
                                num_preemptions=outcome.num_preemptions.get(name, 0),
                                only_service=len(by_name) == 1)
        for name, meta in by_name.items()}
    codes = np.bincount(table.status, minlength=3).tolist()
    serving = {**request_counts(table), "services": services}
    serving.update(trace or {})
    wall = time.perf_counter() - wall_start
    summary = dict(cluster.summary)
    section = fleet_section(cluster, run, fleet, replicas, outcome.end_s)
    section.update(_latency(services))
    section["accounted"] = {  # exactly one final status each
        "jobs": sum(cluster.summary["jobs_by_status"].values()) == len(cluster.jobs),
        "requests": sum(codes) == len(requests) == len(table)}
    summary.update(kind="shared_fleet", serving=serving, fleet=section)
    summary["wall_time_s"] = wall
    summary["requests_per_wall_s"] = len(table) / wall if wall > 0 else None
    summary["jobs_per_wall_s"] = len(cluster.jobs) / wall if wall > 0 else None
    result = ServingResult(scenario_name=cluster.scenario_name, seed=cluster.seed,
                           end_time_s=outcome.end_s, requests=table, replicas=replicas,
                           timelines=timelines, summary=serving, wall_time_s=wall,
                           num_events=cluster.num_events)
    return replace(cluster, summary=summary, wall_time_s=wall, serving=result)


def fleet_section(cluster: SimulationResult, run: SharedRun, fleet: ClusterFleet,
                  replicas: list[ReplicaRecord], end_s: float) -> dict[str, Any]:
    total = cluster.total_gpus
    tl = cluster.timeline
    serve_t = [t for t, _ in run.serving_samples]
    serve_v = [float(v) for _, v in run.serving_samples]
    alloc = _time_mean(tl.time_s, [float(v) for v in tl.gpus_allocated], end_s)
    serving_mean = _time_mean(serve_t, serve_v, end_s)
    jobs = cluster.jobs
    waits = fleet.grant_waits_s
    statuses = cluster.summary["jobs_by_status"]
    return {
        "total_gpus": total,
        "serving_gpu_hours": sum(r.gpus * (r.end_s - r.start_s) for r in replicas) / 3600.0,
        "training_gpu_hours": sum(j.gpu_hours or 0.0 for j in jobs),
        "serving_gpus_mean": serving_mean,
        "serving_gpus_peak": max(serve_v),
        "training_gpus_mean": alloc - serving_mean,
        "idle_gpus_mean_frac": (total - alloc) / total if total else None,
        "serving_gpus_timeline": {"time_s": serve_t, "gpus": serve_v},  # at each change
        "by_hour_of_day": _by_hour(tl.time_s, [float(v) for v in tl.gpus_allocated],
                                   serve_t, serve_v, end_s),
        "replicas_started": len(replicas),
        "replicas_withdrawn": fleet.num_withdrawn,
        "replica_wait_s": {"mean": float(np.mean(waits)) if waits else None,
                           "max": max(waits, default=None)},
        "training_preemptions": sum(j.preemptions for j in jobs),
        "training_preemptions_by_serving": run.preempted_by_serving,
        "training_lost_gpu_hours": sum(j.lost_gpu_hours for j in jobs),
        "jobs_completed": statuses.get("completed", 0),
    }


def _latency(services: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Worst p99 TTFT and TPOT over the services, SLO attainment over their finished
    requests (for comparisons)."""
    ttft = [s["ttft_s"]["p99"] for s in services.values() if s["ttft_s"]["p99"] is not None]
    tpot = [s["tpot_s"]["p99"] for s in services.values() if s["tpot_s"]["p99"] is not None]
    rated = [s for s in services.values() if s["slo_attainment_frac"] is not None]
    done = sum(s["finished"] for s in rated)
    met = sum(s["slo_attainment_frac"] * s["finished"] for s in rated)
    return {"ttft_p99_s": max(ttft, default=None), "tpot_p99_s": max(tpot, default=None),
            "slo_attainment_frac": met / done if done else None}


def _time_mean(t: list[float], v: list[float], end_s: float) -> float:
    """Time-weighted mean of the step function ``v[i]`` from ``t[i]`` over [t0, end]."""
    if not t or end_s <= t[0]:
        return v[-1] if v else 0.0
    times = np.append(np.asarray(t), end_s)
    dt = np.clip(np.diff(times), 0.0, None)
    return float(np.dot(dt, v) / dt.sum()) if dt.sum() > 0 else float(v[-1])


def _by_hour(alloc_t: list[float], alloc_v: list[float], serve_t: list[float],
             serve_v: list[float], end_s: float) -> dict[str, list[float]] | None:
    """Mean GPUs of serving and of training per hour of day (0-23), sampled every
    minute of the run; ``None`` for runs shorter than a day."""
    if end_s < 86400.0:
        return None
    grid = np.arange(0.0, end_s, _GRID_S)
    alloc = np.asarray(alloc_v)[np.searchsorted(alloc_t, grid, side="right") - 1]
    serve = np.asarray(serve_v)[np.searchsorted(serve_t, grid, side="right") - 1]
    hour = ((grid % 86400.0) // 3600.0).astype(np.int64)
    n = np.bincount(hour, minlength=24)
    s = np.bincount(hour, weights=serve, minlength=24) / np.maximum(n, 1)
    a = np.bincount(hour, weights=alloc, minlength=24) / np.maximum(n, 1)
    return {"serving_gpus": [round(float(x), 3) for x in s],
            "training_gpus": [round(float(x), 3) for x in a - s]}
