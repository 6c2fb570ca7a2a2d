"""Composition root of a geo-distributed serving run: sites, users, placement, routing.

``simulate_sites(scenario)``: the services are built as in a one-site run
(:func:`gputwin.run.serving_build.build_service`); the placement policy keeps some of
the declared deployments (service × site); each kept deployment becomes one fleet
service (a *group*, ``service@site``) with its replicas; each request is given a user
population (share × diurnal weight at its arrival, seeded stream ``users``) and, when it
arrives, a group chosen by the routing policy (:class:`gputwin.sites.routing.SiteRouter`,
reading the groups' live load). It reaches the group one-way later (and the first and
last tokens come back one-way later: :mod:`gputwin.run.sites_summary`). Energy, carbon
and cost are accounted per site through the same ledger and price book as one-site runs,
with each site's grid zone, cooling and pricing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.energy.accounting import allocation_rates
from gputwin.energy.regions import region_grid
from gputwin.energy.tco import SERVING_NETWORK
from gputwin.errors import InputError
from gputwin.run.rollout_summary import plan_rollout
from gputwin.run.serving_build import NO_EXTENT, build_service, workload_extents
from gputwin.run.serving_energy import ServiceEnergy
from gputwin.run.serving_requests import (
    ServingWorkload,
    build_requests_and_stages,
    closed_loops,
    trace_fields,
)
from gputwin.run.serving_results import ServingResult
from gputwin.run.serving_summary import ServiceMeta, replica_records, request_table
from gputwin.run.sites_summary import RouteLog, sites_summary
from gputwin.scenario.serving import ServingScenario
from gputwin.scenario.sites_check import resolve_geo
from gputwin.serving.fleet import Fleet, ServiceSpec
from gputwin.sim.rng import RandomStreams
from gputwin.sites.model import Deployment, GeoWorld
from gputwin.sites.placement import place
from gputwin.sites.routing import GroupFacts, SiteRouter
from gputwin.workload.llm_request import LlmRequest

if TYPE_CHECKING:
    from gputwin.serving.fleet import FleetOutcome
    from gputwin.serving.replica_faults import FaultPlan, ReplicaFaults


@dataclasses.dataclass(slots=True)
class _Built:
    spec: ServiceSpec
    meta: ServiceMeta
    energy: ServiceEnergy
    ttft_est_s: float


def _mean_prompt(reqs: list[LlmRequest]) -> int:
    return max(1, round(float(np.mean([r.num_prompt_tokens for r in reqs])))) if reqs else 512


def _build(sc: ServingScenario, cat: Catalog, reqs: list[LlmRequest],
           endpoint_of: dict[str, str]) -> dict[str, _Built]:
    extents = workload_extents(reqs, lambda r: endpoint_of.get(r.service, r.service))
    p = _mean_prompt(reqs)
    out: dict[str, _Built] = {}
    for opts in sc.serving.services:
        if opts.disaggregation is not None:
            raise InputError("disaggregated prefill/decode is not modelled across sites yet",
                             where=f"serving.services[{opts.name}].disaggregation")
        spec, meta, energy = build_service(opts, cat,
                                           extents.get(opts.endpoint_name, NO_EXTENT))
        ttft = energy.perf.step_time_s(p, 0.0, p * p / 2.0, 0, 0.0)
        out[opts.name] = _Built(spec, meta, energy, ttft)
    return out


def _group(b: _Built, d: Deployment) -> tuple[ServiceSpec, ServiceMeta, ServiceEnergy]:
    pool = dataclasses.replace(b.spec.pool, num_replicas=d.replicas)
    return (dataclasses.replace(b.spec, name=d.group, pool=pool),
            dataclasses.replace(b.meta, name=d.group),
            ServiceEnergy(d.group, b.energy.hw, b.energy.perf))


def _replica_usd_per_h(sc: ServingScenario, b: _Built, site_name: str) -> float:
    opts = next(s for s in sc.sites if s.name == site_name)
    acc = b.energy.hw.accelerator
    try:
        rates = allocation_rates(acc.name, acc.tdp_w, provider=opts.provider or sc.site.provider,
                                 pricing=opts.pricing or sc.site.pricing,
                                 network=SERVING_NETWORK)
    except InputError:
        return float("inf")
    return rates.compute_usd_per_gpu_s * 3600.0 * b.meta.gpus_per_replica


def assign_populations(world: GeoWorld, reqs: list[LlmRequest], start_hour_utc: float,
                       streams: RandomStreams) -> np.ndarray:
    """Population index of each request: drawn with probability ∝ share × diurnal weight
    at the request's arrival (UTC hour = ``start_hour_utc`` + arrival / 3600)."""
    n, k = len(reqs), len(world.populations)
    if k == 1 or n == 0:
        return np.zeros(n, dtype=np.int64)
    hours = start_hour_utc + np.fromiter((r.arrival_time_s for r in reqs), float, n) / 3600.0
    w = np.stack([np.vectorize(p.weight_at)(hours) for p in world.populations], axis=1)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    u = streams.stream("users").random(n)
    idx: np.ndarray = np.minimum((cum < u[:, None]).sum(axis=1), k - 1).astype(np.int64)
    return idx


def simulate_sites(sc: ServingScenario, *, catalog: Catalog | None = None,
                   progress: Callable[[float], None] | None = None,
                   requests: list[LlmRequest] | None = None) -> ServingResult:
    """Run a serving scenario with ``sites:`` and ``users:`` (raises InputError)."""
    wall0 = time.perf_counter()
    cat = catalog or default_catalog()
    world = resolve_geo(sc)
    streams = RandomStreams(sc.seed)
    workload = (ServingWorkload(requests, None, {}) if requests is not None
                else build_requests_and_stages(sc, streams))
    reqs = workload.requests
    endpoint_of = {s.name: s.endpoint_name for s in sc.serving.services}
    built = _build(sc, cat, reqs, endpoint_of)
    slo = {s.endpoint_name: s.slo.ttft for s in sc.serving.services}
    kept = place(sc.placement.policy, world,
                 ttft_est_s={k: b.ttft_est_s for k, b in built.items()}, slo_ttft_s=slo)
    groups = {d.group: (d, *_group(built[d.service], d)) for d in kept}
    facts = [GroupFacts(g, world.site(d.site), spec.pool.engine.max_num_seqs,
                        built[d.service].ttft_est_s,
                        _replica_usd_per_h(sc, built[d.service], d.site))
             for g, (d, spec, _, _) in groups.items()]
    fleet_box: list[Fleet] = []

    def load(group: str) -> tuple[int, int]:
        reps = fleet_box[0].accepting_replicas(group)
        return sum(r.outstanding for r in reps), len(reps)

    policy = "spillover" if sc.placement.policy == "edge-first" else sc.routing.policy
    router = SiteRouter(world, facts, {g: v[0].endpoint for g, v in groups.items()}, policy,
                        load=load, carbon=_carbon_fn(sc), full_at=sc.routing.full_at)
    pop_of = assign_populations(world, reqs, _start_hour(sc), streams)
    _check_routes(world, router, reqs, pop_of, endpoint_of)
    log = RouteLog(len(reqs))
    dispatch = _dispatcher(router, world, reqs, pop_of, endpoint_of, log)
    fleet = Fleet([v[1] for v in groups.values()], reqs, horizon_s=sc.horizon,
                  sample_interval_s=sc.serving.sample_interval, dispatch=dispatch,
                  faults=_faults(sc, cat, groups), closed_loops=closed_loops(sc.serving))
    fleet_box.append(fleet)
    out = fleet.run(progress)
    metas = {g: v[2] for g, v in groups.items()}
    table = request_table(out.states, metas)
    replicas = replica_records(out)
    summary = sites_summary(sc, world, router, log, pop_of, table, out, metas,
                            {g: v[3] for g, v in groups.items()}, replicas,
                            {g: v[0] for g, v in groups.items()},
                            plan_rollout(sc, world, streams))
    if fleet.faults is not None:
        _add_failures(summary, fleet.faults, out, list(groups))
    wall = time.perf_counter() - wall0
    summary.update(trace_fields(workload))
    summary.update(wall_time_s=wall, num_events=out.num_events,
                   requests_per_wall_s=len(reqs) / wall if wall > 0 else None)
    from gputwin.run.serving_summary import timeline_data

    return ServingResult(scenario_name=sc.name, seed=sc.seed, end_time_s=out.end_s,
                         requests=table, replicas=replicas,
                         timelines={n: timeline_data(t) for n, t in out.timelines.items()},
                         summary=summary, wall_time_s=wall, num_events=out.num_events)


def _add_failures(summary: dict[str, Any], faults: ReplicaFaults, out: FleetOutcome,
                  groups: list[str]) -> None:
    """The run's and each group's failure report (``serving.failures`` across sites)."""
    from gputwin.run.serving_faults import failures_report, replica_s

    total_s = sum(replica_s(out, g) for g in groups)
    summary["failures"] = {**failures_report(faults, None, total_s),
                           "site_outages": faults.site_report()}
    for g in groups:
        if g in summary["services"]:
            summary["services"][g]["failures"] = failures_report(faults, g,
                                                                 replica_s(out, g))


def _faults(sc: ServingScenario, cat: Catalog,
            groups: dict[str, tuple[Deployment, ServiceSpec, ServiceMeta, ServiceEnergy]]
            ) -> FaultPlan | None:
    """``serving.failures`` across sites: each group fails as a service of its own;
    a site outage takes every group at the site."""
    cfg = sc.serving.failures
    if cfg is None:
        return None
    from gputwin.run.serving_faults import FaultTarget, fault_plan

    opts = {s.name: s for s in sc.serving.services}
    targets = []
    for g, (d, _, _, energy) in groups.items():
        auto = opts[d.service].autoscaler
        targets.append(FaultTarget(g, energy, auto.storage if auto else None, d.site))
    return fault_plan(cfg, sc.seed, targets, cat)


def _start_hour(sc: ServingScenario) -> float:
    return (sc.site.start_offset_s / 3600.0) % 24.0


def _carbon_fn(sc: ServingScenario) -> Callable[[str, float], float]:
    offset = sc.site.start_offset_s
    cache: dict[str, Any] = {}

    def carbon(zone: str, t_s: float) -> float:
        if zone not in cache:
            cache[zone] = region_grid(zone).with_offset(offset).carbon_g_per_j
        return float(cache[zone].at(t_s)) * 3.6e6

    return carbon


def _check_routes(world: GeoWorld, router: SiteRouter, reqs: list[LlmRequest],
                  pop_of: np.ndarray, endpoint_of: dict[str, str]) -> None:
    seen: set[tuple[int, str]] = set()
    for r, p in zip(reqs, pop_of.tolist(), strict=True):
        ep = endpoint_of.get(r.service, r.service)
        if (p, ep) not in seen:
            seen.add((p, ep))
            if not router.candidates(p, ep):
                raise InputError(f"user population {world.populations[p].name!r} reaches no "
                                 f"site serving {ep!r} after placement", where="placement")


def _dispatcher(router: SiteRouter, world: GeoWorld, reqs: list[LlmRequest],
                pop_of: np.ndarray, endpoint_of: dict[str, str], log: RouteLog
                ) -> Callable[[LlmRequest, float], tuple[LlmRequest, float]]:
    index = {r.request_id: i for i, r in enumerate(reqs)}
    pops = pop_of.tolist()
    bytes_per_token = world.network.text_bytes_per_token

    def dispatch(spec: LlmRequest, now: float) -> tuple[LlmRequest, float]:
        i = index[spec.request_id]
        route = router.choose(pops[i], endpoint_of.get(spec.service, spec.service), now)
        log.route[i] = route.index
        delay = route.rtt_s / 2.0
        if route.via is not None:
            delay += spec.num_prompt_tokens * bytes_per_token / route.via.backhaul_bytes_per_s
        # the constructor, not dataclasses.replace (~15x slower on this hot path)
        return LlmRequest(spec.request_id, spec.arrival_time_s, spec.num_prompt_tokens,
                          spec.num_output_tokens, spec.prefix_hashes, spec.hash_block_tokens,
                          spec.session_id, spec.priority, route.facts.group,
                          spec.pre_delay_s, spec.closed_loop, spec.warmup), delay

    return dispatch
