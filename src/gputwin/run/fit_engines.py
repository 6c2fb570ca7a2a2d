"""Fit an engine profile's GEMM efficiency per weight dtype to published offline throughput.

The rows (``perf/engine_benchmarks.yaml``) are replayed through the serving simulator
(:func:`gputwin.run.validate_serve.simulate_case`: all requests at t = 0, fixed lengths,
the engine's profile defaults and the benchmark's request counts). For each weight dtype
the multiplier ``kernels.gemm_eff_mult[dtype]`` is chosen from a grid (0.80-1.25) to
minimise the mean squared log error of that dtype's rows; hold-out error comes from
k-fold cross-validation (fold = row index mod k), each fold refitted on the others.
The predictions for every grid value are computed once and shared by the folds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gputwin.errors import InputError
from gputwin.perf import engines as engines_mod
from gputwin.yaml_io import load_yaml_with_lines

BENCHMARKS_PATH = Path(engines_mod.__file__).with_name("engine_benchmarks.yaml")
DEFAULT_GRID = tuple(round(0.80 + 0.05 * i, 2) for i in range(10))  # 0.80 … 1.25


@dataclass(frozen=True, slots=True)
class OfflineRow:
    """One published offline-throughput figure (output tokens/s of the configuration)."""

    model: str
    gpu: str
    tp: int
    weights: str
    input_tokens: int
    output_tokens: int
    published: float

    @property
    def label(self) -> str:
        return (f"{self.model} {self.gpu} TP{self.tp} {self.weights} "
                f"{self.input_tokens}/{self.output_tokens}")


@dataclass(frozen=True, slots=True)
class EngineFit:
    engine: str
    multipliers: dict[str, float]
    fit_median_abs_error: float
    fit_max_abs_error: float
    holdout_median_abs_error: float
    holdout_max_abs_error: float
    errors: dict[str, float]  # row label -> signed relative error at the fitted values


def load_rows(engine: str, path: Path = BENCHMARKS_PATH) -> list[OfflineRow]:
    """The rows published for ``engine``; raises InputError on a malformed row."""
    data, _ = load_yaml_with_lines(path)
    rows: list[OfflineRow] = []
    for t, table in enumerate(data.get("tables", []) if isinstance(data, dict) else []):
        if table.get("engine") != engine:
            continue
        for i, r in enumerate(table.get("rows", [])):
            if not (isinstance(r, list) and len(r) == 7):
                raise InputError("expected [model, gpu, tp, weights, input, output, "
                                 "published]", where=f"{path}: tables[{t}].rows[{i}]")
            rows.append(OfflineRow(str(r[0]), str(r[1]), int(r[2]), str(r[3]), int(r[4]),
                                   int(r[5]), float(r[6])))
    return rows


def benchmark_requests(input_tokens: int, output_tokens: int) -> int:
    """trtllm-bench's request count for these lengths (perf-overview 'Preparing a
    Dataset': 1,000 at 20000/2000, 1,500-3,000 otherwise; 30,000 at 128/128, cut to
    10,000 here: still ~5 full batches of 2,048, within 1 % of the 30,000-request rate)."""
    if input_tokens + output_tokens <= 256:
        return 10000
    if input_tokens >= 20000:
        return 1000
    if input_tokens + output_tokens >= 4000 or input_tokens >= 5000 or output_tokens >= 4096:
        return 1500
    return 3000


@contextmanager
def _gemm_mult(engine: str, weights: str, value: float) -> Iterator[None]:
    """Temporarily set ``gemm_eff_mult[weights]`` of ``engine`` in the registry."""
    _, profiles = engines_mod._registry()
    old = profiles[engine]
    profiles[engine] = replace(old, gemm_eff_mult={**old.gemm_eff_mult, weights: value})
    try:
        yield
    finally:
        profiles[engine] = old


def predict(row: OfflineRow, engine: str) -> float:
    """Simulated output tokens/s of ``row`` under the current profile of ``engine``."""
    from gputwin.run.validate_serve import simulate_case

    n = benchmark_requests(row.input_tokens, row.output_tokens)
    m = simulate_case(model=row.model, gpu=row.gpu, tp=row.tp, weights=row.weights,
                      engine=engine, offline={"num_requests": n,
                                              "input_tokens": row.input_tokens,
                                              "output_tokens": row.output_tokens})
    return m.metrics["output_tokens_per_s"]


def _best(rows: Sequence[int], table: dict[float, list[float]],
          published: Sequence[float]) -> float:
    def loss(g: float) -> float:
        return sum(math.log(table[g][i] / published[i]) ** 2 for i in rows)
    return min(table, key=lambda g: (loss(g), abs(g - 1.0)))


def fit_engine(engine: str, rows: Sequence[OfflineRow], grid: Sequence[float] = DEFAULT_GRID,
               folds: int = 5, progress: Callable[[str], None] | None = None) -> EngineFit:
    """Fit ``gemm_eff_mult`` per weight dtype of ``engine`` to ``rows`` (see module doc)."""
    if not rows:
        raise InputError(f"no published rows for engine {engine!r}")
    pub = [r.published for r in rows]
    by_dtype: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_dtype.setdefault(r.weights, []).append(i)
    preds: dict[str, dict[float, list[float]]] = {}
    for dtype, idx in by_dtype.items():
        preds[dtype] = {}
        for g in grid:
            with _gemm_mult(engine, dtype, g):
                out = [0.0] * len(rows)
                for i in idx:
                    out[i] = predict(rows[i], engine)
            preds[dtype][g] = out
            if progress:
                progress(f"{dtype} x{g:.2f}")
    mults = {d: _best(idx, preds[d], pub) for d, idx in by_dtype.items()}
    errors = {rows[i].label: preds[d][mults[d]][i] / pub[i] - 1.0
              for d, idx in by_dtype.items() for i in idx}
    held: list[float] = []
    k = min(folds, len(rows))
    for f in range(k):
        for d, idx in by_dtype.items():
            train = [i for i in idx if i % k != f]
            test = [i for i in idx if i % k == f]
            if not train or not test:
                continue
            g = _best(train, preds[d], pub)
            held += [abs(preds[d][g][i] / pub[i] - 1.0) for i in test]
    fit_abs = [abs(e) for e in errors.values()]
    return EngineFit(engine, mults, statistics.median(fit_abs), max(fit_abs),
                     statistics.median(held) if held else math.nan,
                     max(held) if held else math.nan, errors)


def best_grid_value(table: dict[float, list[float]], idx: Sequence[int]) -> float:
    """The grid value whose relative errors (``table[value][k]``, prediction / published
    − 1) over the rows ``idx`` have the least sum of squared log ratios."""
    return min(table, key=lambda v: sum(math.log1p(table[v][k]) ** 2 for k in idx))


def error_summary(errs: Sequence[float]) -> dict[str, float]:
    """``n``, median and largest absolute relative error of ``errs``."""
    a = [abs(e) for e in errs]
    return {"n": len(a), "median_abs": statistics.median(a) if a else 0.0,
            "max_abs": max(a) if a else 0.0}


def summary_line(name: str, summary: dict[str, float]) -> str:
    """``name: n N, median M %, worst W %`` of an :func:`error_summary`."""
    return (f"{name}: n {summary['n']:.0f}, median {summary['median_abs']:.1%}, "
            f"worst {summary['max_abs']:.1%}")


def fit_report(fit: EngineFit) -> dict[str, Any]:
    """Plain data of a fit (for JSON output)."""
    return {"engine": fit.engine, "gemm_eff_mult": fit.multipliers,
            "fit_median_abs_error": fit.fit_median_abs_error,
            "fit_max_abs_error": fit.fit_max_abs_error,
            "holdout_median_abs_error": fit.holdout_median_abs_error,
            "holdout_max_abs_error": fit.holdout_max_abs_error, "errors": fit.errors}
