"""``plan serve``: resolve a :class:`ServePlanRequest`, search analytically, confirm by
simulation, rank by cost per million tokens that meet the SLOs.

Flow: names → :class:`~gputwin.plan.serve.ServeSearch` (priced accelerators, traffic from
the rate or the trace) → :func:`~gputwin.plan.serve.search_deployments` (bounds prune,
estimate ranks) → confirming simulations in rounds, cheapest estimate first, until
``top`` deployments meet the SLOs or ``max_simulations`` ran (:mod:`gputwin.run.plan_sweep`
runs them serially, on a process pool or on Ray; :mod:`gputwin.run.plan_store` keeps them
in ``candidates.parquet`` so a rerun skips what is done).

Cost per million tokens = fleet price per second (GPUs × price book rate) / tokens per
second of requests that met every SLO, over the arrival window (prompt + output tokens).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.energy.accounting import AllocationRates, allocation_rates
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError, UnknownNameError
from gputwin.perf.serving import context_problem
from gputwin.plan.serve import (
    Planned,
    SearchResult,
    ServeSearch,
    Slo,
    pareto_front,
    search_deployments,
)
from gputwin.plan.serve_replica import Traffic
from gputwin.requests import ServePlanRequest
from gputwin.run.estimate_train import _with_overrides
from gputwin.run.plan_confirm import ConfirmTask, confirm_task, scenario_for
from gputwin.run.plan_store import CandidateStore, fingerprint
from gputwin.run.plan_sweep import Sweep
from gputwin.topology.hardware import HardwareSpec, resolve_hardware

Progress = Callable[[int, int], None]
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0}
#: fields that are equal for two runs that only differ in a batch limit that never bound
_SAME_RUN = ("gpu", "tp", "pp", "ep", "dp_attention", "weights", "kv_cache", "engine", "replicas",
             "prefill_replicas", "decode_replicas", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
             "tpot_p99_s", "e2e_p50_s", "e2e_p99_s", "cost_usd_per_million_tokens")


@dataclass(slots=True)
class ServePlan:
    """The outcome of one planner run (rows are the flat confirmation records)."""

    request: ServePlanRequest
    traffic: Traffic
    search: SearchResult
    rows: list[dict[str, Any]]
    price_basis: dict[str, str]
    #: accelerators whose rental price is an estimate (price book `estimated`)
    price_estimated: frozenset[str] = frozenset()
    num_simulated: int = 0
    num_resumed: int = 0
    wall_s: float = 0.0
    search_wall_s: float = 0.0
    pareto: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> list[dict[str, Any]]:
        """Rows that met every SLO, cheapest (per million good tokens) first; of deployments
        that differ only in a ``max_num_seqs`` that never bound (identical measurements),
        the smallest limit."""
        ok = sorted((r for r in self.rows if r["slo_met"]), key=lambda r: (
            r["cost_usd_per_million_tokens"], r["e2e_pct_s"], r["max_num_seqs"], r["key"]))
        seen: set[tuple[Any, ...]] = set()
        out = []
        for r in ok:
            sig = tuple(r[k] for k in _SAME_RUN)
            if sig not in seen:
                seen.add(sig)
                out.append(r)
        return out

    def candidate(self, row: dict[str, Any]) -> dict[str, Any]:
        """The JSON form of one confirmation record, with ``price_estimated``."""
        from gputwin.run.plan_confirm import candidate_dict

        out = candidate_dict(row)
        out["price_estimated"] = out["gpu"] in self.price_estimated
        return out

    def to_dict(self) -> dict[str, Any]:
        req, t = self.request, self.traffic
        failed = [r for r in self.rows if not r["slo_met"]]
        return {
            "model": req.model, "percentile": req.percentile,
            "slo": {"ttft_s": req.ttft_slo, "tpot_s": req.tpot_slo, "e2e_s": req.e2e_slo},
            "traffic": {"rate_per_s": t.rate_per_s, "input_tokens": t.input_tokens,
                        "output_tokens": t.output_tokens, "trace": req.trace,
                        "trace_rows_skipped": dict(t.trace_rows_skipped),
                        "concurrency": req.concurrency,
                        "think_time_s": req.think_time if req.concurrency else None},
            "provider": req.provider, "pricing": req.pricing, "price_basis": self.price_basis,
            "num_shapes": self.search.num_shapes,
            "num_deployments": len(self.search.candidates),
            "rejected": dict(self.search.rejected),
            "num_simulated": self.num_simulated, "num_resumed": self.num_resumed,
            "num_slo_met": len(self.passed),
            "wall_s": self.wall_s,
            "analytic_deployments_per_s": _per_s(self.search.num_shapes, self.search_wall_s),
            "candidates": [self.candidate(r) for r in self.passed[: req.top]],
            "pareto": [self.candidate(r) for r in self.pareto],
            "failed": [self.candidate(r) for r in failed[: req.top]],
        }


def _per_s(n: float, s: float) -> float | None:
    return n / s if s > 0 else None


def priced_hardware(request: ServePlanRequest, cat: Catalog
                    ) -> tuple[dict[str, HardwareSpec], dict[str, AllocationRates]]:
    """Accelerators to search: ``request.gpus``, or every catalog accelerator with a
    price-book entry for the provider/pricing, with their rates. A named GPU without a
    price raises."""
    book = default_tables().price_book.accelerators
    names = request.gpus or [n for n in cat.section("accelerators") if n in book]
    hws: dict[str, HardwareSpec] = {}
    priced: dict[str, AllocationRates] = {}
    known = list(cat.section("accelerators"))
    for name in names:
        if name not in known:
            raise UnknownNameError("accelerator", name, known, where="--gpu")
        try:
            hw = resolve_hardware(cat, gpu=name)
            rates = allocation_rates(name, hw.accelerator.tdp_w, provider=request.provider,
                                     pricing=request.pricing)
        except InputError:
            if request.gpus:
                raise
            continue  # e.g. a part rented from one hyperscaler only
        hws[name], priced[name] = hw, rates if rates.energy_in_price else _owned_fleet(hw)
    return hws, priced


def _owned_fleet(hw: HardwareSpec) -> AllocationRates:
    """An owned deployment's rate per GPU-second of wall clock: the one owned-cost rule
    (:func:`gputwin.energy.tco.owned_rate`, the rate ``estimate tco`` and ``simulate
    serve`` charge) on a serving fleet's fabric. There is no energy ledger here, so the
    rate carries the power bill (IT power at the TCO's mean activity x PUE x price of
    ``tco.yaml``)."""
    from gputwin.energy.accounting import embodied_g_per_gpu_s
    from gputwin.energy.tco import SERVING_NETWORK, OwnedAssumptions, owned_rate
    from gputwin.run.serving_energy import SERVING_EMBODIED_BASIS

    acc = hw.accelerator
    a = OwnedAssumptions(network=SERVING_NETWORK)
    own = owned_rate(acc, hw.system, a)
    return AllocationRates(
        embodied_g_per_gpu_s(acc.name, acc.tdp_w, SERVING_EMBODIED_BASIS),
        own.usd_per_gpu_hour / 3600.0,
        f"owned: full TCO ${own.usd_per_gpu_hour:.2f}/GPU-h of wall clock ({own.basis}; "
        f"+ power ${own.power_usd_per_gpu_hour:.3f}/GPU-h at {a.activity_frac:.0%} activity)",
        True)


def weight_choices(request: ServePlanRequest) -> tuple[str, ...]:
    """The weight dtypes to try: those asked for, or bf16/fp8 and fp4 when both the
    serving model and the scenario schema accept it (per-part support is checked later)."""
    from typing import get_args

    from gputwin.perf.serving import WEIGHT_DTYPES

    if request.weights:
        unknown = [w for w in request.weights if w not in WEIGHT_DTYPES]
        if unknown:
            raise InputError(f"unknown weight dtype(s) {unknown}; expected some of "
                             f"{', '.join(WEIGHT_DTYPES)}", where="--weights")
        return tuple(dict.fromkeys(request.weights))
    from gputwin.scenario.serving_service import ServiceOptions

    accepted = set(get_args(ServiceOptions.model_fields["weights_dtype"].annotation))
    return tuple(w for w in ("bf16", "fp8", "fp4") if w in WEIGHT_DTYPES and w in accepted)


def engine_choices(request: ServePlanRequest) -> tuple[str, ...]:
    """The engine profiles to try: those asked for (checked), or every current one (the
    release profiles of older versions only when named)."""
    from gputwin.perf.engines import current_engine_names, engine_names

    known = engine_names()
    if request.engines is None:
        return current_engine_names()
    unknown = [e for e in request.engines if e not in known]
    if unknown or not request.engines:
        raise InputError(f"unknown engine(s) {unknown or '(none given)'}; expected some of "
                         f"{', '.join(known)}", where="--engine")
    return tuple(dict.fromkeys(request.engines))


def resolve_traffic(request: ServePlanRequest, cat: Catalog) -> Traffic:
    """The offered load: the rate and fixed lengths, or the statistics of the trace."""
    pct = PERCENTILES[request.percentile]
    given = [flag for flag, x in (("--rate", request.rate), ("--concurrency",
                                                             request.concurrency),
                                  ("--trace", request.trace)) if x is not None]
    if len(given) > 1:
        raise InputError("give only one of --rate, --concurrency or --trace, "
                         f"{'not both' if len(given) == 2 else 'not all three'}",
                         where=given[-1])
    if request.think_time and request.concurrency is None:
        raise InputError("--think-time is the pause of concurrent users: give --concurrency",
                         where="--think-time")
    if request.trace is None:
        if (request.rate is None and request.concurrency is None) or (
                request.input_tokens is None or request.output_tokens is None):
            raise InputError("give --rate (or --concurrency), --input-tokens and "
                             "--output-tokens (or --trace)", where="--rate")
        i, o = request.input_tokens, request.output_tokens
        rate = closed_loop_rate(request) if request.rate is None else request.rate
        return Traffic(rate, float(i), float(o), i, i, o)
    import numpy as np

    from gputwin.run.serving_requests import build_requests_and_stages
    from gputwin.sim.rng import RandomStreams

    built = build_requests_and_stages(scenario_for(request, None, cat),
                                      RandomStreams(request.seed))
    reqs, skipped = built.requests, built.trace_rows_skipped
    if len(reqs) < 2:
        raise InputError(f"the trace holds {len(reqs)} request(s); need at least 2",
                         where="--trace")
    arr = np.array([r.arrival_time_s for r in reqs])
    inp = np.array([r.num_prompt_tokens for r in reqs])
    out = np.array([r.num_output_tokens for r in reqs])
    span = float(arr.max() - arr.min())
    rate = (len(reqs) - 1) / span if span > 0 else math.inf
    return Traffic(rate, float(inp.mean()), float(out.mean()),
                   int(np.percentile(inp, pct, method="lower")), int(inp.min()),
                   int(out.min()), tuple(skipped.items()))


def closed_loop_rate(request: ServePlanRequest) -> float:
    """The least throughput ``concurrency`` users must get when every request meets the
    SLOs: by Little's law a closed loop of N users with think time Z runs at X = N / (R +
    Z), and R <= the end-to-end time the SLOs allow (``--e2e-slo``, else TTFT + (output - 1)
    x TPOT). The analytic search sizes deployments for that rate; the confirming
    simulations run the closed loop itself."""
    assert request.concurrency is not None and request.output_tokens is not None
    bound = request.e2e_slo
    if bound is None and request.ttft_slo is not None and request.tpot_slo is not None:
        bound = request.ttft_slo + (request.output_tokens - 1) * request.tpot_slo
    if bound is None:
        raise InputError("planning for concurrent users needs a bound on a request's time: "
                         "give --e2e-slo, or --ttft-slo with --tpot-slo", where="--concurrency")
    return request.concurrency / (bound + request.think_time)


def build_search(request: ServePlanRequest, cat: Catalog
                 ) -> tuple[ServeSearch, dict[str, AllocationRates]]:
    spec = _with_overrides(cat.model(request.model, where="--model"), request.model_overrides)
    if request.trace is None and request.input_tokens and request.output_tokens:
        too_long = context_problem(spec, request.input_tokens, request.output_tokens)
        if too_long is not None:  # every simulated request would be dropped
            raise InputError(too_long)
    hws, priced = priced_hardware(request, cat)
    usd = {name: r.compute_usd_per_gpu_s for name, r in priced.items()}
    slo = Slo(request.ttft_slo, request.tpot_slo, request.e2e_slo,
              PERCENTILES[request.percentile])
    if slo.ttft_s is None and slo.tpot_s is None and slo.e2e_s is None:
        raise InputError("give at least one SLO (--ttft-slo, --tpot-slo or --e2e-slo)",
                         where="--ttft-slo")
    search = ServeSearch(
        model=spec, hardware=hws, usd_per_gpu_s=usd, traffic=resolve_traffic(request, cat),
        slo=slo, weights=weight_choices(request), kv_caches=tuple(request.kv_caches),
        max_num_seqs=tuple(request.max_num_seqs), engines=engine_choices(request),
        max_tp=request.max_tp, weights_named=bool(request.weights),
        disaggregate=request.disaggregate, max_replicas=request.max_replicas,
        replica_slack=request.replica_slack, prune=request.prune)
    return search, priced


def plan_serve(request: ServePlanRequest, *, catalog: Catalog | None = None,
               out_dir: Path | None = None, workers: int | None = None,
               ray_address: str | None = None, progress: Progress | None = None) -> ServePlan:
    """Search, confirm and rank (see the module docstring). Raises :class:`InputError`,
    and :class:`DoesNotFitError` when no replica shape can run at all."""
    wall0 = time.perf_counter()
    cat = catalog or default_catalog()
    search, priced = build_search(request, cat)
    store = CandidateStore(out_dir) if out_dir is not None else None
    if store is not None:
        store.prepare()  # an unusable --out fails here, not after the simulations
    result = search_deployments(search)
    search_s = time.perf_counter() - wall0
    fp = fingerprint(request, search.usd_per_gpu_s)
    done = store.load(fp) if store is not None else {}
    plan = ServePlan(request, search.traffic, result, [],
                     {name: r.cost_basis for name, r in priced.items()},
                     frozenset(name for name, r in priced.items() if r.price_estimated),
                     search_wall_s=search_s)
    _confirm_rounds(plan, search, done, fp, cat, workers, ray_address, progress, store)
    plan.pareto = _pareto(plan.passed)
    plan.wall_s = time.perf_counter() - wall0
    return plan


def _tasks(batch: list[Planned], search: ServeSearch, fp: str, request: ServePlanRequest,
           cat: Catalog) -> list[ConfirmTask]:
    return [ConfirmTask(key=c.deployment.key(), fingerprint=fp,
                        scenario=scenario_for(request, c.deployment, cat),
                        usd_per_gpu_s=search.usd_per_gpu_s[c.deployment.replica.gpu],
                        num_gpus=c.deployment.num_gpus, slo=search.slo,
                        deployment=c.deployment, analytic=c.analytic) for c in batch]


def _confirm_rounds(plan: ServePlan, search: ServeSearch, done: dict[str, dict[str, Any]],
                    fp: str, cat: Catalog, workers: int | None, ray_address: str | None,
                    progress: Progress | None, store: CandidateStore | None) -> None:
    """Confirm the cheapest estimates, ``finalists`` at a time, until ``top`` pass."""
    req = plan.request
    queue = plan.search.candidates[: req.max_simulations]
    total = len(queue)
    pos = 0
    with Sweep(workers, ray_address) as sweep:
        while pos < total and len(plan.passed) < req.top:
            batch = queue[pos: pos + req.finalists]
            pos += len(batch)
            fresh = [c for c in batch if c.deployment.key() not in done]
            for c in batch:
                if c.deployment.key() in done:
                    plan.rows.append(done[c.deployment.key()])
                    plan.num_resumed += 1
            rows = sweep.map(confirm_task, _tasks(fresh, search, fp, req, cat),
                             _shifted(progress, pos - len(batch), total))
            plan.rows.extend(rows)
            plan.num_simulated += len(rows)
            if store is not None and rows:
                store.save(fp, [*done.values(), *plan.rows])
    if progress is not None:
        progress(total, total)


def _shifted(progress: Progress | None, offset: int, total: int) -> Progress | None:
    if progress is None:
        return None
    return lambda n, _m: progress(offset + n, total)


def _pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost per million tokens against end-to-end latency at the SLO percentile."""
    pts = [(r["cost_usd_per_million_tokens"], r["e2e_pct_s"]) for r in rows]
    return [rows[i] for i in pareto_front(pts)]
