"""Composition root of a serving simulation: scenario → services + requests → fleet → result.

``simulate_serving(scenario)`` resolves catalog names, builds each service
(:func:`gputwin.run.serving_build.build_service`: step-time model, KV cache size, engine
limits) and the request stream (:func:`gputwin.run.serving_requests.build_requests_and_stages`:
traces, synthetic, RAG; seeded named streams), runs the
:class:`~gputwin.serving.fleet.Fleet` and summarises. Deterministic: the same scenario
and seed give the same result (except wall time).
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.run.generation_run import (
    BuiltGeneration,
    build_generation,
    generation_loads,
    summarize_generation,
)
from gputwin.run.serving_build import NO_EXTENT, build_service, workload_extents
from gputwin.run.serving_energy import (
    ServiceEnergy,
    ServingEnergy,
    account_serving,
    energy_fields,
    finished_tokens,
)
from gputwin.run.serving_requests import (
    ServingWorkload,
    build_requests_and_stages,
    closed_loops,
    trace_fields,
)
from gputwin.run.serving_results import (
    REQUEST_COLUMNS,
    RequestTable,
    ServiceTimelineData,
    ServingResult,
)
from gputwin.run.serving_summary import (
    ServiceMeta,
    replica_records,
    request_counts,
    request_table,
    summarize_service,
    timeline_data,
)
from gputwin.scenario.serving import ServingScenario, check_serving_site
from gputwin.serving.fleet import Fleet, FleetOutcome, ServiceSpec
from gputwin.serving.generation import GenerationRun, simulate_generation
from gputwin.sim.rng import RandomStreams
from gputwin.workload.llm_request import LlmRequest

if TYPE_CHECKING:
    from gputwin.serving.replica_faults import FaultPlan


def simulate_serving(sc: ServingScenario, *, catalog: Catalog | None = None,
                     progress: Callable[[float], None] | None = None,
                     requests: list[LlmRequest] | None = None) -> ServingResult:
    """Run a serving scenario (``requests`` overrides its workload). Raises InputError.

    The cyclic garbage collector is paused for the run (and restored after): the run
    allocates millions of small acyclic objects (requests, heap entries) that reference
    counting frees, and the collector's full passes over them cost ~10-15 % of the wall
    time at a million requests without finding anything to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        if sc.sites:
            from gputwin.run.simulate_sites import simulate_sites

            return simulate_sites(sc, catalog=catalog, progress=progress, requests=requests)
        return _simulate_serving(sc, catalog, progress, requests)
    finally:
        if enabled:
            gc.enable()


def _service_summaries(metas: dict[str, ServiceMeta], table: RequestTable,
                       timelines: dict[str, ServiceTimelineData], out: FleetOutcome,
                       start_s: float, acct: Any, faults: Any) -> dict[str, Any]:
    """Each LLM service's summary: metrics, failures (when faults ran), energy and cost."""
    services: dict[str, Any] = {}
    for name, meta in metas.items():
        s = services[name] = summarize_service(
            meta, table, timelines[name], out.itl.get(name), start_s=start_s,
            end_s=out.end_s, num_preemptions=out.num_preemptions.get(name, 0),
            only_service=len(metas) == 1)
        if faults is not None:
            from gputwin.run.serving_faults import failures_report, replica_s

            s["failures"] = failures_report(faults, name, replica_s(out, name))
        out_tok, in_tok = finished_tokens(table, None if len(metas) == 1 else name)
        s.update(energy_fields(acct.services[name], priced=acct.priced[name],
                               energy_in_price=acct.energy_in_price,
                               output_tokens=out_tok, input_tokens=in_tok,
                               gpu_energy_j=acct.gpu_energy_j[name]))
    return services


def _add_workload(summary: dict[str, Any], workload: ServingWorkload,
                  table: RequestTable) -> None:
    """What came with the requests into the run's summary: :func:`trace_fields` and the
    RAG stages (when a source has a pipeline)."""
    summary.update(trace_fields(workload))
    if workload.stages is not None:
        from gputwin.run.serving_rag import rag_summary

        summary["rag"] = rag_summary(workload.stages, table)


def _add_generation(summary: dict[str, Any], generation: dict[str, Any],
                    total_it_energy_j: float) -> None:
    """Generation services into the run's summary and totals (cost unknown if any is)."""
    summary["generation"] = generation
    gen_costs = [g["cost_usd"] for g in generation.values()]
    if summary["total_cost_usd"] is not None:
        summary["total_cost_usd"] = (None if None in gen_costs
                                     else summary["total_cost_usd"] + sum(gen_costs))
    summary["total_energy_j"] = total_it_energy_j


def _simulate_serving(sc: ServingScenario, catalog: Catalog | None,
                      progress: Callable[[float], None] | None,
                      requests: list[LlmRequest] | None) -> ServingResult:
    wall0 = time.perf_counter()
    cat = catalog or default_catalog()
    workload = (ServingWorkload(requests, None, {}) if requests is not None
                else build_requests_and_stages(sc, RandomStreams(sc.seed), cat))
    reqs = workload.requests
    extents = workload_extents(reqs)
    built = [build_service(s, cat, extents.get(s.name, NO_EXTENT))
             for s in sc.serving.services]
    check_serving_site(sc.site, [(b[2].hw.accelerator, b[2].hw.system) for b in built])
    fleet: Fleet | None = None
    if built:
        fleet = Fleet([b[0] for b in built], reqs, horizon_s=sc.horizon,
                      sample_interval_s=sc.serving.sample_interval,
                      max_total_gpus=sc.serving.max_total_gpus,
                      faults=_faults(sc, built, cat), closed_loops=closed_loops(sc.serving))
        out = fleet.run(progress)
    else:  # generation services only
        out = FleetOutcome([], [], {}, {}, 0.0, 0, {})
    metas = {m.name: m for _, m, _ in built}
    table = request_table(out.states, metas)
    replicas = replica_records(out)
    timelines = {name: timeline_data(tl) for name, tl in out.timelines.items()}
    start = min((r.arrival_time_s for r in reqs), default=0.0)
    gen = _run_generation(sc, cat)
    acct = account_serving(sc.site, [b[2] for b in built], replicas, table,
                           generation_loads(*gen) if gen else ())
    services = _service_summaries(metas, table, timelines, out, start, acct,
                                  fleet.faults if fleet is not None else None)
    generation = {} if gen is None else {
        name: summarize_generation(gen[0], gen[1], name, energy_fields(
            acct.services[name], priced=acct.priced[name],
            energy_in_price=acct.energy_in_price, output_tokens=0, input_tokens=0,
            gpu_energy_j=acct.gpu_energy_j.get(name, 0.0)))
        for name in gen[0].configs}
    wall = time.perf_counter() - wall0
    end_s = max(out.end_s, gen[1].end_s if gen else 0.0)
    summary = _summary(sc, table, services, end_s, wall, out.num_events, acct)
    _add_workload(summary, workload, table)
    if generation:
        _add_generation(summary, generation, acct.total.it_energy_j)
    return ServingResult(scenario_name=sc.name, seed=sc.seed, end_time_s=end_s,
                         requests=table, replicas=replicas, timelines=timelines,
                         summary=summary, wall_time_s=wall, num_events=out.num_events,
                         generation_requests=gen[1].requests if gen else ())


def _faults(sc: ServingScenario, built: list[tuple[ServiceSpec, ServiceMeta, ServiceEnergy]],
            catalog: Catalog) -> FaultPlan | None:
    """``serving.failures`` of a one-site run (the fault plan module only when set)."""
    if sc.serving.failures is None:
        return None
    from gputwin.run.serving_faults import FaultTarget, fault_plan

    targets = [FaultTarget(opts.name, b[2], opts.autoscaler.storage if opts.autoscaler else None)
               for opts, b in zip(sc.serving.services, built, strict=True)]
    return fault_plan(sc.serving.failures, sc.seed, targets, catalog)


def _run_generation(sc: ServingScenario, catalog: Catalog
                    ) -> tuple[BuiltGeneration, GenerationRun] | None:
    """The image/video generation services of ``serving.generation`` (None without)."""
    section = sc.serving.generation
    if section is None:
        return None
    built = build_generation(section, catalog, RandomStreams(sc.seed))
    return built, simulate_generation(built.services, built.requests, horizon_s=sc.horizon)


def _summary(sc: ServingScenario, table: RequestTable, services: dict[str, Any],
             end_s: float, wall_s: float, num_events: int,
             acct: ServingEnergy) -> dict[str, Any]:
    records = table
    flat = dict(next(iter(services.values()))) if len(services) == 1 else {}
    costs = [s["cost_usd"] for s in services.values()]
    total_out = finished_tokens(table)[0]  # the tokens total_cost_usd paid for
    total = acct.total
    return {
        "kind": "serving", "scenario": sc.name, "seed": sc.seed,
        **request_counts(table),
        "end_time_s": end_s,
        **{k: v for k, v in flat.items() if k not in ("num_requests", "warmup_requests")},
        "total_cost_usd": None if None in costs else sum(costs),
        "total_output_tokens": total_out,
        "total_energy_j": total.it_energy_j,
        "total_co2e_g": total.co2e_operational_g + total.co2e_embodied_g,
        "total_water_l": total.water_onsite_l + total.water_grid_l,
        "site": acct.site,
        "services": services,
        "wall_time_s": wall_s, "num_events": num_events,
        "requests_per_wall_s": len(records) / wall_s if wall_s > 0 else math.inf,
    }


__all__ = ["REQUEST_COLUMNS", "simulate_serving"]
