"""Builders for scheduling tests: a framework from a profile, jobs, a cycle applied to a ledger."""

from __future__ import annotations

from typing import Any

from gputwin.cluster import ClusterLayout, Ledger, take_snapshot
from gputwin.scheduling import (
    CycleResult,
    Framework,
    PluginContext,
    build_framework,
    resolve_profile,
)
from gputwin.workload import JobSpec

LAYOUT = ClusterLayout(num_nodes=8, gpus_per_node=8, nodes_per_leaf=4)


def job(job_id: str, num_gpus: int, t: float = 0.0, dur: float = 10.0, **kw: Any) -> JobSpec:
    return JobSpec(job_id=job_id, kind=kw.pop("kind", "k"), tenant=kw.pop("tenant", "t"), model="m",
                   num_gpus=num_gpus, submit_time_s=t, fixed_duration_s=dur, **kw)


def make_fw(profile: str | None = "fifo", layout: ClusterLayout = LAYOUT,
            plugins: dict[str, Any] | None = None,
            args: dict[str, dict[str, Any]] | None = None) -> Framework:
    ctx = PluginContext(layout=layout, estimate_runtime=lambda j: j.fixed_duration_s or 0.0)
    return build_framework(resolve_profile(profile, plugins, args), ctx)


def cycle(fw: Framework, ledger: Ledger, now: float) -> CycleResult:
    """One cycle; apply preemptions and starts to ``ledger`` as the simulator does."""
    result = fw.schedule(now, take_snapshot(ledger))
    for p in result.preemptions:
        ledger.release(p.job.job_id)
        if p.migrate_to is not None:
            ledger.allocate(p.job.job_id, p.migrate_to)
    for d in result.starts:
        ledger.allocate(d.job.job_id, d.placement)
    return result


def started(result: CycleResult) -> list[str]:
    return [d.job.job_id for d in result.starts]
