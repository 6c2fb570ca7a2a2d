"""The figures a comparison tabulates, read from each run's summary (run/summary.py).

Every metric is a path into the summary dict (or, for the few figures the summary does not
have, a value derived from the per-job records: :func:`derived_values`), a unit (``s``,
``frac``, ``count``, ``gpu_h``, ``ratio``) and whether higher is better (used only to
colour a difference; the significance test does not depend on it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gputwin.run.results import JobRecord

Unit = Literal["s", "frac", "count", "gpu_h", "ratio", "g_co2e", "usd"]


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # flat name used in JSON/CSV
    label: str
    unit: Unit
    path: tuple[str, ...]  # into the run summary; () = derived from the job records
    higher_is_better: bool = False
    scope: Literal["cluster", "serving", "fleet"] = "cluster"  # which run summaries have it


METRICS: tuple[Metric, ...] = (
    Metric("jct_mean_s", "JCT mean", "s", ("jct_s", "mean")),
    Metric("jct_p50_s", "JCT p50", "s", ("jct_s", "p50")),
    Metric("jct_p95_s", "JCT p95", "s", ("jct_s", "p95")),
    Metric("jct_p99_s", "JCT p99", "s", ("jct_s", "p99")),
    Metric("wait_mean_s", "queueing delay mean", "s", ("wait_s", "mean")),
    Metric("wait_p95_s", "queueing delay p95", "s", ("wait_s", "p95")),
    Metric("bounded_slowdown_mean", "bounded slowdown mean", "ratio",
           ("bounded_slowdown", "mean")),
    Metric("jct_multinode_mean_s", "JCT mean, multi-node jobs", "s", ()),
    Metric("makespan_s", "makespan", "s", ("makespan_s",)),
    Metric("gpu_allocation_frac", "GPU allocation", "frac", ("gpu_allocation_mean_frac",),
           higher_is_better=True),
    Metric("fragmentation_frac", "fragmentation", "frac", ("fragmentation_mean_frac",)),
    Metric("preemptions", "preemptions", "count", ("preemptions",)),
    Metric("lost_gpu_hours", "lost GPU-hours", "gpu_h", ("lost_gpu_hours",)),
    Metric("jobs_completed", "jobs completed", "count", ("jobs_by_status", "completed"),
           higher_is_better=True),
    Metric("gpu_hours", "GPU-hours held", "gpu_h", ("gpu_hours",)),
    # failures (a `failures:` section; absent otherwise): run/failures.py, run/checkpoints.py
    Metric("interruptions", "interruptions", "count", ("reliability", "interruptions")),
    Metric("fault_lost_gpu_hours", "GPU-hours lost to faults", "gpu_h",
           ("reliability", "lost_gpu_hours")),
    Metric("ettr_cluster", "effective training time ratio", "ratio",
           ("reliability", "ettr_cluster"), higher_is_better=True),
    Metric("checkpoint_stall_gpu_hours", "GPU-hours stalled by checkpoints", "gpu_h",
           ("reliability", "checkpoints", "stalled_gpu_hours")),
    Metric("hot_swaps", "slow nodes hot-swapped", "count", ("reliability", "hot_swaps")),
    # fabric contention (cluster.network.contention): run/fabric.py
    Metric("jobs_crossing_leaves", "jobs crossing leaves", "count",
           ("fabric", "jobs_crossing_leaves")),
    Metric("contention_lost_gpu_hours", "GPU-hours lost to fabric contention", "gpu_h",
           ("fabric", "contention_lost_gpu_hours")),
    # a shared fleet (a `serving:` section; absent otherwise): run/shared_fleet_summary.py
    Metric("serving_ttft_p99_s", "serving TTFT p99 (worst service)", "s",
           ("fleet", "ttft_p99_s"), scope="fleet"),
    Metric("serving_tpot_p99_s", "serving TPOT p99 (worst service)", "s",
           ("fleet", "tpot_p99_s"), scope="fleet"),
    Metric("serving_slo_attainment_frac", "serving SLO attainment", "frac",
           ("fleet", "slo_attainment_frac"), higher_is_better=True, scope="fleet"),
    Metric("serving_gpu_hours", "serving GPU-hours", "gpu_h", ("fleet", "serving_gpu_hours"),
           scope="fleet"),
    Metric("training_gpu_hours", "training GPU-hours", "gpu_h",
           ("fleet", "training_gpu_hours"), higher_is_better=True, scope="fleet"),
    Metric("idle_gpus_frac", "idle GPUs", "frac", ("fleet", "idle_gpus_mean_frac"),
           scope="fleet"),
    # energy accounting (runs with a `site:` section; absent otherwise)
    Metric("co2e_operational_g", "operational CO2e", "g_co2e", ("co2e_operational_g",)),
    # serving runs across sites (gputwin.run.sites_summary: user-side, network included)
    Metric("e2e_p50_s", "end-to-end p50 (user)", "s", ("e2e_p50_s",), scope="serving"),
    Metric("e2e_p99_s", "end-to-end p99 (user)", "s", ("e2e_p99_s",), scope="serving"),
    Metric("ttft_p50_s", "TTFT p50 (user)", "s", ("ttft_p50_s",), scope="serving"),
    Metric("ttft_p99_s", "TTFT p99 (user)", "s", ("ttft_p99_s",), scope="serving"),
    Metric("cost_per_million_tokens_usd", "cost per million tokens", "usd",
           ("cost_per_million_tokens_usd",), scope="serving"),
    Metric("served_at_edge_frac", "served at edge sites", "frac", ("served_at_edge_frac",),
           higher_is_better=True, scope="serving"),
    Metric("total_co2e_g", "CO2e (serving)", "g_co2e", ("total_co2e_g",), scope="serving"),
    Metric("slo_attainment_frac", "SLO attainment", "frac", ("slo_attainment_frac",),
           higher_is_better=True, scope="serving"),
    # replica faults (a `serving.failures:` section, one service): serving/replica_faults.py
    Metric("replica_faults", "replica faults", "count", ("failures", "faults"),
           scope="serving"),
    Metric("requests_retried", "requests retried after a fault", "count",
           ("failures", "requests_retried"), scope="serving"),
    Metric("requests_failed", "requests failed by faults", "count",
           ("failures", "requests_failed"), scope="serving"),
    Metric("capacity_lost_frac", "serving capacity lost to faults", "frac",
           ("failures", "capacity_lost_frac"), scope="serving"),
)

METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)


def metric_value(summary: Mapping[str, Any], metric: Metric) -> float | None:
    """The metric's value in ``summary`` (``None`` if absent, not a number or derived)."""
    if not metric.path:
        return None
    node: Any = summary
    for part in metric.path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    return float(node)


def derived_values(jobs: Sequence[JobRecord]) -> dict[str, float | None]:
    """Figures computed from the job records: mean JCT of completed jobs whose (last)
    placement spanned two or more nodes (``None`` if there is none)."""
    multi = [j.jct_s for j in jobs
             if j.status == "completed" and j.num_nodes >= 2 and j.jct_s is not None]
    return {"jct_multinode_mean_s": sum(multi) / len(multi) if multi else None}


def metric_values(summary: Mapping[str, Any],
                  derived: Mapping[str, float | None] | None = None) -> dict[str, float | None]:
    """Every metric of one run, by key (derived ones from ``derived``, else ``None``)."""
    extra = derived or {}
    return {m.key: (metric_value(summary, m) if m.path else extra.get(m.key))
            for m in METRICS}
