"""Confirming one planned deployment by simulation (a picklable task for any pool).

:func:`scenario_for` turns a deployment and the planner's traffic into a serving scenario
(Poisson arrivals at the rate with fixed lengths, or the trace); :func:`confirm_task` runs
it through :func:`gputwin.run.simulate_serve.simulate_serving` and returns one flat record
(the row kept in ``candidates.parquet``). Measured, per request: TTFT, TPOT, end-to-end;
the SLOs hold when every request finished and each metric's percentile is within its
limit, over the requests after a warm-up (the first 10 % of the arrival window). Goodput
counts those requests inside every SLO, per second of the measured window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gputwin.catalog.loader import Catalog
from gputwin.errors import DoesNotFitError, InputError
from gputwin.plan.serve import Analytic, Deployment, Slo
from gputwin.plan.serve_replica import GPU_MEMORY_UTILIZATION, MAX_NUM_BATCHED_TOKENS
from gputwin.requests import ServePlanRequest
from gputwin.scenario.serving import ServingScenario

METRICS = ("ttft", "tpot", "e2e")
QUANTILES = (50, 90, 99)
DEFAULT_SIM_SECONDS = 60.0  # simulated arrival window when --num-requests is not given
#: share of the arrival window at the start that is not measured (the fleet filling up)
WARMUP_FRAC = 0.1


@dataclass(frozen=True, slots=True)
class ConfirmTask:
    """Everything one confirming simulation needs (picklable; no catalog objects)."""

    key: str
    fingerprint: str
    scenario: ServingScenario
    usd_per_gpu_s: float
    num_gpus: int
    slo: Slo
    deployment: Deployment
    analytic: Analytic


def num_requests(request: ServePlanRequest) -> int:
    if request.num_requests is not None:
        return request.num_requests
    if request.concurrency is not None:  # ~8 rounds per user: a steady state well past
        # the first wave (all users send at t = 0), as the closed-loop validation cases run
        return int(min(4000, max(600, 8 * request.concurrency)))
    rate = request.rate or 1.0
    return int(min(4000, max(600, rate * DEFAULT_SIM_SECONDS)))


def _workload(request: ServePlanRequest) -> dict[str, Any]:
    if request.trace is not None:
        return {"kind": "trace", "format": request.trace_format, "path": request.trace,
                "max_requests": request.max_requests, "speedup": request.speedup,
                "model_filter": request.trace_model, "log_type": request.trace_log_type}
    load: dict[str, Any] = ({"concurrency": request.concurrency,
                             "think_time": request.think_time}
                            if request.concurrency is not None else
                            {"arrival": {"process": "poisson", "rate": request.rate}})
    return {"kind": "synthetic", "num_requests": num_requests(request), **load,
            "prompt": {"dist": "fixed", "value": request.input_tokens},
            "output": {"dist": "fixed", "value": request.output_tokens}}


def scenario_for(request: ServePlanRequest, dep: Deployment | None,
                 catalog: Catalog | None) -> ServingScenario:
    """The serving scenario confirming ``dep`` (``None``: the workload only, with a
    placeholder service)."""
    service: dict[str, Any] = {"name": "plan", "model": request.model, "gpu": "planner"}
    if dep is not None:
        r = dep.replica
        service.update(
            gpu=r.gpu, tp=r.tp, pp=r.pp, ep=r.ep, dp_attention=r.dp_attention,
            weights_dtype=r.weights,
            kv_cache_dtype=r.kv_cache, replicas=max(1, dep.replicas),
            engine={"name": r.engine, "max_num_seqs": r.max_num_seqs,
                    "max_num_batched_tokens": MAX_NUM_BATCHED_TOKENS,
                    "gpu_memory_utilization": GPU_MEMORY_UTILIZATION},
            slo={"ttft": request.ttft_slo, "tpot": request.tpot_slo})
        if dep.disaggregated:
            service["disaggregation"] = {"prefill_replicas": dep.prefill_replicas,
                                         "decode_replicas": dep.decode_replicas}
    workload = {**_workload(request), "service": "plan"}
    data = {"name": "plan-serve", "seed": request.seed,
            # owned hardware has no rental pricing (SiteConfig refuses the pair)
            "site": {"provider": request.provider, "pricing": None
                     if request.provider == "owned" else request.pricing},
            "serving": {"services": [service], "workload": [workload]}}
    try:
        return ServingScenario.model_validate(data)
    except ValueError as exc:
        raise InputError(f"cannot build the confirming scenario: {exc}",
                         where="plan serve") from None


def _pct(values: np.ndarray, q: float) -> float:
    v = values[~np.isnan(values)]
    return float(np.percentile(v, q)) if v.size else math.nan


def _row_base(task: ConfirmTask) -> dict[str, Any]:
    d, r, a = task.deployment, task.deployment.replica, task.analytic
    return {
        "key": task.key, "fingerprint": task.fingerprint, "gpu": r.gpu, "tp": r.tp,
        "pp": r.pp, "ep": r.ep, "dp_attention": r.dp_attention, "weights": r.weights,
        "kv_cache": r.kv_cache,
        "max_num_seqs": r.max_num_seqs, "engine": r.engine, "replicas": d.replicas,
        "prefill_replicas": d.prefill_replicas, "decode_replicas": d.decode_replicas,
        "gpus": task.num_gpus, "usd_per_hour": task.usd_per_gpu_s * task.num_gpus * 3600.0,
        "analytic_ttft_s": a.ttft_s, "analytic_tpot_s": a.tpot_s, "analytic_e2e_s": a.e2e_s,
        "analytic_cost_usd_per_million_tokens": a.cost_usd_per_million_tokens,
        "error": "",
    }


def _failed(row: dict[str, Any], error: str) -> dict[str, Any]:
    row.update({f"{m}_{k}_s": math.nan for m in METRICS
                for k in (*(f"p{q}" for q in QUANTILES), "pct")})
    row.update(num_requests=0, measured_requests=0, finished=0, slo_attainment_frac=0.0,
               goodput_steady_rps=0.0, goodput_steady_tokens_per_s=0.0,
               cost_usd_per_million_tokens=math.inf,
               cost_usd_per_million_output_tokens=math.inf, slo_met=False, error=error,
               sim_wall_s=0.0, simulated_s=0.0)
    return row


def confirm_task(task: ConfirmTask) -> dict[str, Any]:
    """Simulate ``task`` and measure it (never raises for a deployment that does not fit:
    the record says why)."""
    from gputwin.run.simulate_serve import simulate_serving

    row = _row_base(task)
    wall0 = time.perf_counter()
    try:
        res = simulate_serving(task.scenario)
    except (DoesNotFitError, InputError) as exc:
        return _failed(row, str(exc))
    row.update(measure(res.requests, task.slo))
    usd_s = task.usd_per_gpu_s * task.num_gpus
    good_tok, good_out = row.pop("_good_tokens_per_s"), row.pop("_good_output_tokens_per_s")
    row["cost_usd_per_million_tokens"] = usd_s / good_tok * 1e6 if good_tok > 0 else math.inf
    row["cost_usd_per_million_output_tokens"] = (usd_s / good_out * 1e6 if good_out > 0
                                                 else math.inf)
    row["sim_wall_s"] = time.perf_counter() - wall0
    row["simulated_s"] = res.end_time_s
    return row


def measure(table: Any, slo: Slo) -> dict[str, Any]:
    """Percentiles, SLO verdict and goodput of one run's request table.

    Every request must finish; the requests arriving in the first ``WARMUP_FRAC`` of the
    arrival window (an empty fleet filling up, faster than steady state) are not measured.
    ``goodput_steady_rps`` (``_tokens_per_s``): the measured requests that finished within
    every SLO (TTFT, TPOT, e2e, where set) per second of the steady arrival window -- the
    planned load x SLO attainment, what the fleet's price is divided by. (``simulate
    serve``'s ``goodput_active_rps`` is per second of its active time, drain included.)
    """
    arr = table.arrival_s
    n_all = len(arr)
    start = float(arr.min()) if n_all else 0.0
    span_all = float(arr.max()) - start if n_all else 0.0
    steady = arr >= start + WARMUP_FRAC * span_all
    fin = (table.status == 0) & steady
    vals = {"ttft": table.ttft_s[fin], "tpot": table.tpot_s[fin], "e2e": table.e2e_s[fin]}
    limits = {"ttft": slo.ttft_s, "tpot": slo.tpot_s, "e2e": slo.e2e_s}
    out: dict[str, Any] = {}
    for m in METRICS:
        for q in QUANTILES:
            out[f"{m}_p{q}_s"] = _pct(vals[m], q)
        out[f"{m}_pct_s"] = _pct(vals[m], slo.percentile)
    n = int(steady.sum())
    good = fin.copy()
    for m in METRICS:
        lim = limits[m]
        if lim is not None:
            col = getattr(table, f"{m}_s")
            good &= ~(col > lim)
    all_done = bool((table.status == 0).all()) and n > 0
    met = all_done and all(lim is None or out[f"{m}_pct_s"] <= lim
                           for m, lim in limits.items())
    span = span_all * (1.0 - WARMUP_FRAC)
    span = span * n / (n - 1) if n > 1 and span > 0 else 1.0  # n arrivals ≈ n gaps
    tokens = table.prompt_tokens + table.output_tokens
    out.update(num_requests=n_all, measured_requests=n, finished=int((table.status == 0).sum()),
               slo_attainment_frac=float(good.sum()) / n if n else 0.0,
               goodput_steady_rps=float(good.sum()) / span,
               goodput_steady_tokens_per_s=float(tokens[good].sum()) / span,
               _good_tokens_per_s=float(tokens[good].sum()) / span,
               _good_output_tokens_per_s=float(table.output_tokens[good].sum()) / span,
               slo_met=bool(met))
    return out


def _finite(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def candidate_dict(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of one record: layout, cost, measured percentiles, analytic guess."""
    out: dict[str, Any] = {k: _finite(row[k]) for k in (
        "key", "gpu", "tp", "pp", "ep", "dp_attention", "weights", "kv_cache",
        "max_num_seqs", "engine",
        "replicas", "prefill_replicas", "decode_replicas", "gpus",
        "cost_usd_per_million_tokens", "cost_usd_per_million_output_tokens", "usd_per_hour",
        "goodput_steady_rps", "goodput_steady_tokens_per_s", "slo_attainment_frac", "slo_met",
        "num_requests", "measured_requests", "finished")}
    out["disaggregated"] = row["prefill_replicas"] > 0
    for m in METRICS:
        out[f"{m}_s"] = {f"p{q}": _finite(row[f"{m}_p{q}_s"]) for q in QUANTILES}
        out[f"{m}_s"]["at_slo_percentile"] = _finite(row[f"{m}_pct_s"])
    out["analytic"] = {k.removeprefix("analytic_"): _finite(row[k]) for k in (
        "analytic_ttft_s", "analytic_tpot_s", "analytic_e2e_s",
        "analytic_cost_usd_per_million_tokens")}
    if row.get("error"):
        out["error"] = row["error"]
    return out
