"""Per-cluster-queue figures of a run (the ``queues`` key of the run summary).

Per cluster queue: its cohort and nominal quota; jobs by final status and their wait
times; admissions (re-admissions after a preemption count again); preemptions by reason
(``within-queue``, ``reclaim``, ``borrow-within-cohort``); GPU-hours used, borrowed
(beyond nominal) and lent (see :mod:`~gputwin.scheduling.quota.book`), the nominal
GPU-hours over the window and used / nominal; peaks; GPU-hours of work lost to
preemption (since the last checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from gputwin.scheduling.quota.book import QuotaBook
from gputwin.scheduling.quota.model import MILLI

_GPU_H = MILLI * 3600.0  # milli-GPU·s per GPU-hour
PREEMPTION_REASONS = ("within-queue", "reclaim", "borrow-within-cohort")


class JobOutcome(Protocol):
    """What the report needs of a job's record (``run.results.JobRecord`` has it)."""

    @property
    def job_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def wait_time_s(self) -> float | None: ...
    @property
    def lost_gpu_hours(self) -> float: ...


def _waits(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p95": None, "max": None}
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)), "max": float(arr.max())}


def queue_report(book: QuotaBook, jobs: Iterable[JobOutcome], end_s: float
                 ) -> dict[str, dict[str, Any]]:
    """Per cluster queue figures over ``[0, end_s]`` (see the module docstring)."""
    book.advance(end_s)
    per_jobs: dict[str, list[JobOutcome]] = {name: [] for name in book.model.cluster_queues}
    for job in jobs:
        queue = book.job_queue.get(job.job_id)
        if queue is not None:
            per_jobs[queue].append(job)
    out: dict[str, dict[str, Any]] = {}
    for name, cq in sorted(book.model.cluster_queues.items()):
        st = book.stats[name]
        nominal = sum(q.nominal_milli for _, q in cq.quotas)
        nominal_h = nominal * end_s / _GPU_H
        used_h = st.used_milli_s / _GPU_H
        mine = per_jobs[name]
        statuses = {s: 0 for s in ("completed", "failed", "running", "queued")}
        for j in mine:
            statuses[j.status] = statuses.get(j.status, 0) + 1
        preempt = {r: st.preemptions.get(r, 0) for r in PREEMPTION_REASONS}
        preempt.update({r: c for r, c in st.preemptions.items() if r not in preempt})
        out[name] = {
            "cohort": cq.cohort,
            "queueing_strategy": cq.queueing_strategy,
            "nominal_gpus": nominal / MILLI,
            "nominal_gpus_by_flavor": {f: q.nominal_milli / MILLI for f, q in cq.quotas},
            "num_jobs": len(mine),
            "jobs_by_status": statuses,
            "wait_s": _waits([j.wait_time_s for j in mine if j.wait_time_s is not None]),
            "admissions": st.admissions,
            "preemptions": sum(st.preemptions.values()),
            "preemptions_by_reason": preempt,
            "gpu_hours_used": used_h,
            "gpu_hours_borrowed": st.borrowed_milli_s / _GPU_H,
            "gpu_hours_lent": st.lent_milli_s / _GPU_H,
            "nominal_gpu_hours": nominal_h,
            "usage_vs_nominal": used_h / nominal_h if nominal_h > 0 else None,
            "peak_gpus": st.peak_milli / MILLI,
            "peak_borrowed_gpus": st.peak_borrowed_milli / MILLI,
            "lost_gpu_hours": sum(j.lost_gpu_hours for j in mine),
        }
    return out
