"""Hand-built SimulationResults for the report tests (no dependency on run/simulate.py)."""

from __future__ import annotations

import heapq
import random
from typing import Any

from gputwin.run.results import JobRecord, JobStatus, SimulationResult, Timeline


def make_job(
    job_id: str = "j0",
    *,
    kind: str = "pretrain",
    tenant: str = "team-a",
    num_gpus: int = 8,
    submit: float = 0.0,
    start: float | None = 0.0,
    end: float | None = 3600.0,
    status: JobStatus = "completed",
    reason: str = "",
    **extra: Any,
) -> JobRecord:
    return JobRecord(
        job_id=job_id, kind=kind, model="llama3-8b", tenant=tenant, num_gpus=num_gpus,
        submit_time_s=submit, start_time_s=start, end_time_s=end, status=status,
        reason=reason, **extra,
    )


def make_result(
    jobs: list[JobRecord] | None = None,
    timeline: Timeline | None = None,
    *,
    name: str = "unit-test",
    total_gpus: int = 64,
    end_time_s: float = 7200.0,
    summary: dict[str, Any] | None = None,
    seed: int = 7,
) -> SimulationResult:
    return SimulationResult(
        scenario_name=name, seed=seed, total_gpus=total_gpus, end_time_s=end_time_s,
        jobs=jobs if jobs is not None else [], timeline=timeline or Timeline(),
        summary=summary if summary is not None else {}, wall_time_s=1.5, num_events=123,
    )


def synthetic_result(
    num_jobs: int = 300, *, total_gpus: int = 1024, horizon_s: float = 14 * 86400.0,
    seed: int = 1,
) -> SimulationResult:
    """A plausible FIFO cluster run: Poisson arrivals, mixed job sizes, some failures.

    Self-consistent: the timeline is the exact step function of the job records.
    """
    rng = random.Random(seed)
    kinds = {  # kind: (gpu sizes, mean run time s)
        "pretrain": ((256, 512), 3 * 86400.0),
        "finetune": ((8, 16, 32, 64), 6 * 3600.0),
        "eval": ((1, 8), 1800.0),
    }
    tenants = ["research", "product", "ads", "safety", "infra"]
    arrivals: list[tuple[float, str, str, int, float, bool]] = []
    t = 0.0
    for i in range(num_jobs):
        t += rng.expovariate(num_jobs / (0.8 * horizon_s))
        kind = rng.choices(list(kinds), weights=(1, 10, 20))[0]
        sizes, mean_run = kinds[kind]
        arrivals.append((t, f"job-{i:05d}", kind, rng.choice(sizes),
                         rng.expovariate(1 / mean_run) + 60, rng.random() < 0.05))
    free = total_gpus
    queue: list[int] = []
    running: list[tuple[float, int]] = []  # (end, index)
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    samples: list[tuple[float, int, int, int]] = []
    nxt = 0
    now = 0.0
    while now < horizon_s:
        t_arr = arrivals[nxt][0] if nxt < len(arrivals) else float("inf")
        t_end = running[0][0] if running else float("inf")
        now = min(t_arr, t_end)
        if now >= horizon_s or now == float("inf"):
            break
        if t_end <= t_arr:
            _, idx = heapq.heappop(running)
            free += arrivals[idx][3]
            ends[idx] = now
        else:
            queue.append(nxt)
            nxt += 1
        while queue and arrivals[queue[0]][3] <= free:  # strict FIFO
            idx = queue.pop(0)
            free -= arrivals[idx][3]
            starts[idx] = now
            run = arrivals[idx][4] * (rng.uniform(0.1, 0.9) if arrivals[idx][5] else 1.0)
            heapq.heappush(running, (now + run, idx))
        samples.append((now, total_gpus - free, len(queue), len(running)))
    jobs = []
    for idx, (sub, jid, kind, gpus, _, fails) in enumerate(arrivals[:nxt]):
        start = starts.get(idx)
        end = ends.get(idx)
        if end is not None:
            status: JobStatus = "failed" if fails else "completed"
        else:
            status = "running" if start is not None else "queued"
        reason = {"failed": "XID 79: GPU fell off the bus on node n0042",
                  "queued": f"waiting for {gpus} free GPUs"}.get(status, "")
        jobs.append(JobRecord(
            job_id=jid, kind=kind, model={"pretrain": "llama3-70b"}.get(kind, "llama3-8b"),
            tenant=tenants[idx % len(tenants)], num_gpus=gpus, submit_time_s=sub,
            start_time_s=start, end_time_s=end, status=status, reason=reason,
            energy_j=None if start is None else gpus * 700.0 * ((end or horizon_s) - start),
        ))
    timeline = Timeline(
        time_s=[s[0] for s in samples], gpus_allocated=[s[1] for s in samples],
        queue_length=[s[2] for s in samples], running_jobs=[s[3] for s in samples],
    )
    return SimulationResult(
        scenario_name="synthetic-fifo", seed=seed, total_gpus=total_gpus,
        end_time_s=horizon_s, jobs=jobs, timeline=timeline,
        summary={"policy": "fifo", "num_jobs": len(jobs)}, wall_time_s=0.8,
        num_events=2 * len(samples),
    )
