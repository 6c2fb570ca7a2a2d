"""Least-squares fit of the serving model's coefficients to measured times.

An observation is a measured time and the weighted engine steps it is made of (a step
time: one step of weight 1; a mean TTFT: the prefill steps weighted by the share of
requests still waiting; a TPOT: one steady-state step). Each step's time is linear in
the coefficients once the roofline side of every kernel is fixed
(:func:`gputwin.perf.serving.step_components`):

``t = a·steps + b·seqs + c·layers + C/compute_eff_mult + M/bandwidth_frac + fixed``

so the fit solves a bounded linear least-squares problem in
``(a, b, c, 1/compute_eff_mult, 1/bandwidth_frac)`` on *relative* residuals, then
re-evaluates the roofline sides with the new coefficients and repeats (a few rounds
converge). Hold-out error comes from k-fold cross-validation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gputwin.errors import InputError
from gputwin.perf.serving import ServingPerf, step_components
from gputwin.perf.serving_calib import ServingAccelCoefficients, ServingCalibration
from gputwin.perf.serving_load import StepLoad

#: Fittable coefficient → the step-component feature it multiplies.
FITTABLE: dict[str, str] = {
    "step_overhead_s": "steps",
    "per_seq_overhead_s": "seqs",
    "layer_overhead_s": "layers",
    "compute_eff_mult": "compute_unit_s",
    "bandwidth_frac": "memory_unit_s",
}
DEFAULT_FIT = ("step_overhead_s", "compute_eff_mult", "bandwidth_frac")
_INVERSE = ("compute_eff_mult", "bandwidth_frac")  # the feature is divided by these
_BOUNDS: dict[str, tuple[float, float]] = {
    "step_overhead_s": (0.0, 1.0), "per_seq_overhead_s": (0.0, 0.01),
    "layer_overhead_s": (0.0, 0.01), "compute_eff_mult": (0.05, 1.5),
    "bandwidth_frac": (0.05, 1.0),
}


def bound_reached(name: str, value: float) -> str | None:
    """``"lower bound 0"`` / ``"upper bound 1.5"`` when the fitted ``value`` of coefficient
    ``name`` sits on a bound of its physical range (the data pull it further: the model
    does not describe those times), else ``None``."""
    lo, hi = _BOUNDS[name]
    tol = 1e-9 * max(1.0, abs(hi))
    if value <= lo + tol:
        return f"lower bound {lo:g}"
    if value >= hi - tol:
        return f"upper bound {hi:g}"
    return None


@dataclass(frozen=True, slots=True)
class Observation:
    """A measured time (s) and the weighted step loads that make it up."""

    target_s: float
    steps: tuple[tuple[float, StepLoad], ...]
    label: str = ""


@dataclass(frozen=True, slots=True)
class FitResult:
    calibration: ServingCalibration
    coefficients: dict[str, float]
    fit_median_abs_error: float
    fit_max_abs_error: float
    holdout_median_abs_error: float | None
    holdout_max_abs_error: float | None
    num_observations: int
    num_folds: int


PerfFactory = Callable[[ServingCalibration], ServingPerf]


def _features(perf: ServingPerf, obs: Observation) -> dict[str, float]:
    acc = {k: 0.0 for k in ("steps", "seqs", "layers", "compute_unit_s", "memory_unit_s",
                            "fixed_s")}
    for w, ld in obs.steps:
        comp = step_components(perf, ld.num_prefill_tokens, ld.prefill_context_tokens_sum,
                               ld.prefill_attn_pairs, ld.num_decode_seqs,
                               ld.decode_context_tokens_sum)
        for k, v in comp.items():
            acc[k] += w * v
    return acc


def predict_s(perf: ServingPerf, obs: Observation) -> float:
    """Model time of an observation with ``perf``'s coefficients."""
    return sum(w * perf.step_time_s(ld.num_prefill_tokens, ld.prefill_context_tokens_sum,
                                    ld.prefill_attn_pairs, ld.num_decode_seqs,
                                    ld.decode_context_tokens_sum) for w, ld in obs.steps)


def _current(cal: ServingCalibration, accel: str, name: str) -> float:
    if name in _INVERSE:
        return float(getattr(cal.for_accelerator(accel), name))
    return float(getattr(cal, name))


def _with(cal: ServingCalibration, accel: str, values: dict[str, float]) -> ServingCalibration:
    """A calibration with ``values`` set; accelerator coefficients go under ``accel``."""
    base = cal.for_accelerator(accel)
    acc = ServingAccelCoefficients(
        accel, values.get("compute_eff_mult", base.compute_eff_mult),
        values.get("bandwidth_frac", base.bandwidth_frac), base.moe_width_half)
    glob: dict[str, Any] = {k: v for k, v in values.items() if k not in _INVERSE}
    # fitted host overheads hold for whatever engine was measured: drop per-engine values
    engines = {name: {k: v for k, v in e.items() if k.split(".")[0] not in glob}
               for name, e in cal.engines.items()}
    return replace(cal, accelerators={**cal.accelerators, accel: acc}, engines=engines,
                   **glob)


def _solve(rows: list[dict[str, float]], targets: list[float], names: Sequence[str],
           cal: ServingCalibration, accel: str) -> dict[str, float]:
    """One bounded least-squares solve on relative residuals (active set by clipping)."""
    free = list(names)
    fixed_vals: dict[str, float] = {}
    for _ in range(len(names) + 1):
        a = np.zeros((len(rows), len(free)))
        b = np.zeros(len(rows))
        for i, (row, t) in enumerate(zip(rows, targets, strict=True)):
            rest = row["fixed_s"]
            for n, feat in FITTABLE.items():
                if n in free:
                    continue
                v = fixed_vals.get(n, _current(cal, accel, n))
                rest += row[feat] / v if n in _INVERSE else row[feat] * v
            for j, n in enumerate(free):
                a[i, j] = row[FITTABLE[n]] / t
            b[i] = (t - rest) / t
        x = np.linalg.lstsq(a, b, rcond=None)[0] if free else np.zeros(0)
        values = {}
        clipped = False
        for j, n in enumerate(free):
            lo, hi = _BOUNDS[n]
            v = (1.0 / x[j] if x[j] > 0 else math.inf) if n in _INVERSE else float(x[j])
            if not lo <= v <= hi:
                fixed_vals[n] = min(max(v, lo), hi)
                clipped = True
            else:
                values[n] = float(v)
        if not clipped:
            return {**fixed_vals, **values}
        free = [n for n in free if n not in fixed_vals]
    return {**fixed_vals, **{n: _current(cal, accel, n) for n in free}}


def measurements_needed(names: Sequence[str]) -> int:
    """Measured times a fit of ``names`` needs: one per coefficient."""
    return len(names)


def fit(observations: Sequence[Observation], make_perf: PerfFactory,
        base: ServingCalibration, accel: str, names: Sequence[str] = DEFAULT_FIT,
        rounds: int = 6) -> tuple[ServingCalibration, dict[str, float]]:
    """Fit ``names`` to ``observations`` starting from ``base``."""
    unknown = sorted(set(names) - set(FITTABLE))
    if unknown:
        raise InputError(f"--fit: unknown coefficient(s) {', '.join(unknown)}; expected "
                         f"{', '.join(FITTABLE)}")
    if len(observations) < measurements_needed(names):
        raise InputError(f"need at least {measurements_needed(names)} measurements to fit "
                         f"{len(names)} coefficients, got {len(observations)}")
    cal = base
    values: dict[str, float] = {}
    for _ in range(rounds):
        perf = make_perf(cal)
        rows = [_features(perf, o) for o in observations]
        values = _solve(rows, [o.target_s for o in observations], names, cal, accel)
        cal = _with(cal, accel, values)
    return cal, values


def _errors(cal: ServingCalibration, make_perf: PerfFactory,
            observations: Sequence[Observation]) -> list[float]:
    perf = make_perf(cal)
    return [abs(predict_s(perf, o) - o.target_s) / o.target_s for o in observations]


def fit_with_holdout(observations: Sequence[Observation], make_perf: PerfFactory,
                     base: ServingCalibration, accel: str,
                     names: Sequence[str] = DEFAULT_FIT, folds: int = 5) -> FitResult:
    """Fit on all observations and report k-fold hold-out error (fold = index mod k)."""
    cal, values = fit(observations, make_perf, base, accel, names)
    errs = _errors(cal, make_perf, observations)
    k = min(folds, len(observations))
    held: list[float] = []
    if k >= 2:
        for f in range(k):
            train = [o for i, o in enumerate(observations) if i % k != f]
            test = [o for i, o in enumerate(observations) if i % k == f]
            if len(train) < len(names):
                continue
            fold_cal, _ = fit(train, make_perf, base, accel, names)
            held += _errors(fold_cal, make_perf, test)
    return FitResult(
        calibration=cal, coefficients=values,
        fit_median_abs_error=statistics.median(errs), fit_max_abs_error=max(errs),
        holdout_median_abs_error=statistics.median(held) if held else None,
        holdout_max_abs_error=max(held) if held else None,
        num_observations=len(observations), num_folds=k if held else 0,
    )
