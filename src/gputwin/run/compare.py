"""Compare scenario variants over several seeds: mean ± 95 % CI and paired differences.

``prepare_comparison`` expands ``--set key=a,b`` options into variants
(:mod:`gputwin.run.compare_variants`) and validates *every* variant with the normal
scenario loader before anything runs, so a bad key or value fails fast and nothing is
written. ``run_comparison`` runs each variant once per seed (seed = base seed + i), in
worker processes when there is more than one run, and returns the results in a fixed
order (variant, then seed) whatever order the workers finish in.

Seeds only matter where something is random. Today that is the synthetic workload
generator (the scheduling plugins and the trace replay are deterministic), so a scenario
whose workload is a trace only is run **once** per variant and its confidence intervals
are reported as not applicable (``n/a``); :data:`Comparison.note` says so.

Statistics (:mod:`gputwin.run.compare_stats`): per variant and metric, the mean over seeds
± the Student-t 95 % half-width; against the first variant (the baseline), the mean of the
per-seed differences (same seed ⇒ same synthetic workload: common random numbers) ± its
95 % half-width, marked significant when that interval excludes zero.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError
from gputwin.run.compare_metrics import (
    METRIC_KEYS,
    METRICS,
    Metric,
    derived_values,
    metric_values,
)
from gputwin.run.compare_serving import (
    explain_comparison,
    run_serving_variant,
    serving_seed_dependent,
    serving_variants,
)
from gputwin.run.compare_stats import Difference, Estimate, mean_ci, paired_difference
from gputwin.run.compare_variants import Variant, check_runs, expand_variants
from gputwin.run.outputs import json_safe
from gputwin.scenario.load import load_scenario, resolve_scenario_path
from gputwin.scenario.schema import Scenario
from gputwin.scenario.serving import ServingScenario, is_serving_file

COMPARE_JSON = "compare.json"
RUNS_CSV = "compare-runs.csv"
COMPARE_HTML = "compare.html"
DEFAULT_SEEDS = 5
DEFAULT_JOBS = 2


@dataclass(frozen=True, slots=True)
class ComparisonPlan:
    """Validated variants and the seeds to run (nothing has run yet)."""

    scenario_path: str
    variants: list[Variant]
    scenarios: list[Scenario | ServingScenario]  # one per variant, at the base seed
    seeds: list[int]
    seed_dependent: bool
    note: str


@dataclass(frozen=True, slots=True)
class SeedRun:
    """One run's figures plus the curves the HTML page draws."""

    variant: int
    seed: int
    summary: dict[str, Any]
    metrics: dict[str, float | None]
    jct_s: list[float]  # completed jobs, sorted
    total_gpus: int
    end_time_s: float
    wall_time_s: float
    alloc_time_s: list[float] = field(default_factory=list)  # allocated-GPU step function
    alloc_gpus: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Cell:
    """One variant × metric: the estimate over seeds and the difference vs the baseline."""

    estimate: Estimate
    diff: Difference | None  # None for the baseline itself


@dataclass(frozen=True, slots=True)
class Comparison:
    plan: ComparisonPlan
    runs: list[SeedRun]  # ordered by (variant, seed)
    cells: list[dict[str, Cell]]  # per variant: metric key → cell
    wall_time_s: float

    @property
    def variants(self) -> list[Variant]:
        return self.plan.variants

    def shown_metrics(self) -> list[Metric]:
        """The metrics with a value in at least one run (others do not apply here, e.g.
        CO2e without a ``site:`` section); JSON and CSV keep every metric."""
        return [m for m in METRICS if any(r.metrics.get(m.key) is not None for r in self.runs)]

    def runs_of(self, variant: int) -> list[SeedRun]:
        return [r for r in self.runs if r.variant == variant]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite floats → ``None``); see docs/compare.md for the keys."""
        out: dict[str, Any] = json_safe(_as_dict(self))
        return out


def prepare_comparison(scenario: str | Path | None, sets: Sequence[str], *,
                       seeds: int = DEFAULT_SEEDS,
                       catalog: Catalog | None = None) -> ComparisonPlan:
    """Expand and validate every variant; raises :class:`InputError` before any run."""
    if seeds < 1:
        raise InputError(f"expected a number of seeds >= 1, got {seeds}", where="--seeds")
    check_runs(1, seeds, "--seeds")
    path = resolve_scenario_path(scenario)
    scenarios: list[Scenario | ServingScenario]
    if is_serving_file(path):
        variants, served = serving_variants(path, sets, catalog)
        check_runs(len(variants), seeds, "--seeds")
        scenarios = list(served)
    else:
        variants = expand_variants(sets)
        check_runs(len(variants), seeds, "--seeds")  # before validating every variant
        scenarios = [load_scenario(scenario, v.overrides, catalog=catalog) for v in variants]
    bases = {sc.seed for sc in scenarios}
    base = min(bases)
    dependent = any(_seed_dependent(sc) for sc in scenarios)
    if dependent:
        seed_list = [base + i for i in range(seeds)]
        note = (f"{seeds} seed(s) per variant ({seed_list[0]}..{seed_list[-1]}); "
                "the seed changes the synthetic workload")
    else:
        seed_list = [base]
        note = ("the seed does not change this workload (trace replay, deterministic "
                "scheduling): one run per variant, confidence intervals n/a")
    return ComparisonPlan(str(path), variants,
                          [sc.model_copy(update={"seed": base}) for sc in scenarios],
                          seed_list, dependent, note)


def _seed_dependent(sc: Scenario | ServingScenario) -> bool:
    """Whether the seed changes anything in a run (only the synthetic generator draws)."""
    if isinstance(sc, ServingScenario):
        return serving_seed_dependent(sc)
    return sc.workload.synthetic is not None


def run_comparison(plan: ComparisonPlan, *, jobs: int = DEFAULT_JOBS,
                   progress: Callable[[int, int], None] | None = None) -> Comparison:
    """Run every (variant, seed); ``jobs`` worker processes (1 = in this process).

    ``progress(done, total)`` is called after each run. Raises :class:`InputError` if a
    run fails on bad input (e.g. a malformed trace row).
    """
    start = time.perf_counter()
    tasks = [(vi, sc.model_copy(update={"seed": seed}), seed == plan.seeds[0])
             for vi, sc in enumerate(plan.scenarios) for seed in plan.seeds]
    results: list[SeedRun | str | None] = [None] * len(tasks)
    workers = max(1, min(jobs, len(tasks)))
    if workers == 1:
        for i, task in enumerate(tasks):
            results[i] = _run_task(task)
            if progress is not None:
                progress(i + 1, len(tasks))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_run_task, task): i for i, task in enumerate(tasks)}
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(done, len(tasks))
    runs: list[SeedRun] = []
    for (vi, _, _), res in zip(tasks, results, strict=True):
        if isinstance(res, str):
            raise InputError(res, where=plan.variants[vi].label)
        assert res is not None
        runs.append(res)
    return Comparison(plan, runs, _cells(plan, runs), time.perf_counter() - start)


def compare(scenario: str | Path | None, sets: Sequence[str], *, seeds: int = DEFAULT_SEEDS,
            jobs: int = DEFAULT_JOBS, catalog: Catalog | None = None,
            progress: Callable[[int, int], None] | None = None) -> Comparison:
    """:func:`prepare_comparison` then :func:`run_comparison`."""
    plan = prepare_comparison(scenario, sets, seeds=seeds, catalog=catalog)
    return run_comparison(plan, jobs=jobs, progress=progress)


def _run_task(task: tuple[int, Scenario | ServingScenario, bool]) -> SeedRun | str:
    """One run (in a worker process); bad input comes back as its message."""
    from gputwin.run.simulate import simulate

    variant, scenario, keep_timeline = task
    if isinstance(scenario, ServingScenario):
        try:
            summary, end_s, wall_s = run_serving_variant(scenario)
        except InputError as exc:
            return str(exc)
        return SeedRun(variant, scenario.seed, summary, metric_values(summary), [], 0,
                       end_s, wall_s)
    try:
        result = simulate(scenario)
    except InputError as exc:
        return str(exc)
    jct = sorted(j.jct_s for j in result.jobs if j.status == "completed" and j.jct_s is not None)
    t_out: list[float] = []
    g_out: list[int] = []
    if keep_timeline:
        tl = result.timeline
        for t, g in zip(tl.time_s, tl.gpus_allocated, strict=True):
            if not g_out or g != g_out[-1]:
                t_out.append(t)
                g_out.append(g)
    metrics = metric_values(result.summary, derived_values(result.jobs))
    return SeedRun(variant, scenario.seed, result.summary, metrics, jct,
                   result.total_gpus, result.end_time_s, result.wall_time_s, t_out, g_out)


def _cells(plan: ComparisonPlan, runs: list[SeedRun]) -> list[dict[str, Cell]]:
    by_variant = [[r for r in runs if r.variant == vi] for vi in range(len(plan.variants))]
    base = by_variant[0]
    out = []
    for vi, vr in enumerate(by_variant):
        row = {}
        for key in METRIC_KEYS:
            values = [r.metrics[key] for r in vr]
            est = mean_ci([v for v in values if v is not None])
            diff = None if vi == 0 else paired_difference(values, [r.metrics[key] for r in base])
            row[key] = Cell(est, diff)
        out.append(row)
    return out


# -- serialisation --------------------------------------------------------------------------


def _estimate_dict(e: Estimate) -> dict[str, Any]:
    return {"mean": e.mean, "ci95_half_width": e.half_width, "ci95": [e.low, e.high],
            "n": e.n}


def _diff_dict(d: Difference) -> dict[str, Any]:
    low = None if d.mean is None or d.half_width is None else d.mean - d.half_width
    high = None if d.mean is None or d.half_width is None else d.mean + d.half_width
    return {"mean": d.mean, "ci95_half_width": d.half_width, "ci95": [low, high],
            "n_pairs": d.n, "rel": d.rel, "significant": d.significant}


def _as_dict(c: Comparison) -> dict[str, Any]:
    plan = c.plan
    variants: list[dict[str, Any]] = []
    for vi, v in enumerate(plan.variants):
        variants.append({
            "label": v.label,
            "overrides": list(v.overrides),
            "axis_values": {k: val for k, val in v.axis_values},
            "metrics": {key: {**_estimate_dict(cell.estimate),
                              "diff_vs_baseline": None if cell.diff is None
                              else _diff_dict(cell.diff)}
                        for key, cell in c.cells[vi].items()},
            "runs": [{"seed": r.seed, "metrics": r.metrics, "summary": r.summary}
                     for r in c.runs_of(vi)],
        })
    return {
        "scenario": plan.scenarios[0].name,
        "scenario_path": plan.scenario_path,
        "seeds": plan.seeds,
        "seed_dependent": plan.seed_dependent,
        "note": plan.note,
        "baseline": plan.variants[0].label,
        "confidence": 0.95,
        # the metrics these runs report (a serving file has no JCT, a cluster no TTFT)
        "metrics": [{"key": m.key, "label": m.label, "unit": m.unit,
                     "higher_is_better": m.higher_is_better} for m in METRICS
                    if any(v["metrics"].get(m.key, {}).get("mean") is not None
                           for v in variants)],
        "variants": variants,
        "explanation": explain_comparison([v.label for v in plan.variants],
                                          [[r.summary for r in c.runs_of(vi)]
                                           for vi in range(len(plan.variants))]),
        "wall_time_s": c.wall_time_s,
    }


def comparison_json(c: Comparison) -> str:
    """Pretty, sorted-key-stable JSON of :meth:`Comparison.to_dict`."""
    return json.dumps(c.to_dict(), indent=2, allow_nan=False) + "\n"


def runs_csv(c: Comparison) -> str:
    """One row per (variant, seed): the metrics plus jobs, end time and wall time."""
    buf = io.StringIO()
    cols = ["variant", "seed", *METRIC_KEYS, "num_jobs", "end_time_s", "wall_time_s"]
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for r in c.runs:
        row: dict[str, Any] = {"variant": c.variants[r.variant].label, "seed": r.seed,
                               "num_jobs": r.summary.get("num_jobs"),
                               "end_time_s": r.end_time_s, "wall_time_s": r.wall_time_s}
        row.update(r.metrics)
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()

