"""The figures a comparison tabulates, read from each run's summary (run/summary.py).

Every metric is a path into the summary dict, a unit (``s``, ``frac``, ``count``,
``gpu_h``, ``ratio``) and whether higher is better (used only to colour a difference;
the significance test does not depend on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Unit = Literal["s", "frac", "count", "gpu_h", "ratio"]


@dataclass(frozen=True, slots=True)
class Metric:
    key: str  # flat name used in JSON/CSV
    label: str
    unit: Unit
    path: tuple[str, ...]  # into the run summary
    higher_is_better: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("jct_mean_s", "JCT mean", "s", ("jct_s", "mean")),
    Metric("jct_p50_s", "JCT p50", "s", ("jct_s", "p50")),
    Metric("jct_p95_s", "JCT p95", "s", ("jct_s", "p95")),
    Metric("jct_p99_s", "JCT p99", "s", ("jct_s", "p99")),
    Metric("wait_mean_s", "queueing delay mean", "s", ("wait_s", "mean")),
    Metric("wait_p95_s", "queueing delay p95", "s", ("wait_s", "p95")),
    Metric("bounded_slowdown_mean", "bounded slowdown mean", "ratio",
           ("bounded_slowdown", "mean")),
    Metric("makespan_s", "makespan", "s", ("makespan_s",)),
    Metric("gpu_allocation_frac", "GPU allocation", "frac", ("gpu_allocation_mean_frac",),
           higher_is_better=True),
    Metric("fragmentation_frac", "fragmentation", "frac", ("fragmentation_mean_frac",)),
    Metric("preemptions", "preemptions", "count", ("preemptions",)),
    Metric("lost_gpu_hours", "lost GPU-hours", "gpu_h", ("lost_gpu_hours",)),
    Metric("jobs_completed", "jobs completed", "count", ("jobs_by_status", "completed"),
           higher_is_better=True),
    # energy accounting (runs with a `site:` section; absent otherwise)
    Metric("co2e_operational_g", "operational CO2e (g)", "count", ("co2e_operational_g",)),
)

METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)


def metric_value(summary: Mapping[str, Any], metric: Metric) -> float | None:
    """The metric's value in ``summary`` (``None`` if absent or not a number)."""
    node: Any = summary
    for part in metric.path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    return float(node)


def metric_values(summary: Mapping[str, Any]) -> dict[str, float | None]:
    """Every metric of one run, by key."""
    return {m.key: metric_value(summary, m) for m in METRICS}
