"""The summary of a geo-distributed serving run: user-side latency, per population and per
site, network traffic and its cost, energy, carbon and cost per site.

User-side latency of a finished request (times from the user's send)::

    ttft_user = ttft + rtt / 2      (the request's one-way trip is already inside ttft:
    e2e_user  = e2e  + rtt / 2       it reached the site one-way after it was sent)

so the network adds one RTT. The breakdown splits ``e2e_user`` into network (RTT), time
to first token at the site (queueing + prefill) and decode. Bytes: prompts at
``text_bytes_per_token``, streamed answers at ``stream_bytes_per_output_token``
(``sites/data/network.yaml``); relayed requests cross the backhaul both ways and pay its
price per GB; answers leave the user-facing site as egress at its price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gputwin.run.rollout_summary import rollout_summary
from gputwin.run.serving_energy import (
    ServiceEnergy,
    account_serving,
    energy_fields,
    finished_tokens,
)
from gputwin.run.serving_results import ReplicaRecord, RequestTable
from gputwin.run.serving_summary import (
    ServiceMeta,
    request_counts,
    summarize_service,
    timeline_data,
)
from gputwin.scenario.serving import ServingScenario
from gputwin.serving.fleet import FleetOutcome
from gputwin.sites.model import Deployment, GeoWorld
from gputwin.sites.rollout import RolloutOutcome
from gputwin.sites.routing import SiteRouter


class RouteLog:
    """The route index each request took (-1: never routed, e.g. past the horizon)."""

    __slots__ = ("route",)

    def __init__(self, n: int) -> None:
        self.route = np.full(n, -1, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class _Net:
    rtt_s: np.ndarray  # per request, NaN when never routed
    site: np.ndarray  # serving site index, -1 when never routed
    via: np.ndarray  # ingress edge site index, -1 when direct
    req_bytes: np.ndarray
    resp_bytes: np.ndarray


def _network(world: GeoWorld, router: SiteRouter, log: RouteLog, table: RequestTable) -> _Net:
    names = [s.name for s in world.sites]
    rt = router.routes
    rtt = np.array([r.rtt_s for r in rt] + [np.nan])
    site = np.array([names.index(r.facts.site.name) for r in rt] + [-1])
    via = np.array([names.index(r.via.name) if r.via else -1 for r in rt] + [-1])
    idx = np.where(log.route >= 0, log.route, len(rt))
    net = world.network
    return _Net(rtt[idx], site[idx], via[idx],
                table.prompt_tokens * net.text_bytes_per_token,
                table.output_tokens * net.stream_bytes_per_output_token)


def _pct(a: np.ndarray) -> dict[str, float | None]:
    a = a[~np.isnan(a)]
    if a.size == 0:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": float(a.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def _latency(table: RequestTable, net: _Net, sel: np.ndarray) -> dict[str, Any]:
    fin = sel & (table.status == 0)
    half = net.rtt_s[fin] / 2.0
    ttft_user = table.ttft_s[fin] + half
    e2e_user = table.e2e_s[fin] + half
    ttft_site = table.ttft_s[fin] - half
    decode = table.e2e_s[fin] - table.ttft_s[fin]
    e2e, ttft = _pct(e2e_user), _pct(ttft_user)
    return {
        "e2e_p50_s": e2e["p50"], "e2e_p99_s": e2e["p99"], "e2e_s": e2e,
        "ttft_p50_s": ttft["p50"], "ttft_p99_s": ttft["p99"], "ttft_s": ttft,
        "breakdown_mean_s": {"network_rtt": _pct(net.rtt_s[fin])["mean"],
                             "queue_and_prefill": _pct(ttft_site)["mean"],
                             "decode": _pct(decode)["mean"]},
        "finished": int(fin.sum()),
    }


def _traffic(world: GeoWorld, net: _Net, table: RequestTable) -> dict[str, dict[str, float]]:
    """Backhaul and egress bytes and cost per site (requests that reached a site)."""
    out = {s.name: {"requests_served": 0.0, "backhaul_bytes": 0.0, "backhaul_cost_usd": 0.0,
                    "egress_bytes": 0.0, "egress_cost_usd": 0.0} for s in world.sites}
    total = net.req_bytes + net.resp_bytes
    for i, s in enumerate(world.sites):
        served = net.site == i
        out[s.name]["requests_served"] = float(served.sum())
        relayed = net.via == i
        bh = float(total[relayed].sum())
        # the user-facing site sends the answer out: the ingress edge when relayed
        facing = (served & (net.via < 0)) | relayed
        eg = float(net.resp_bytes[facing].sum())
        out[s.name].update(backhaul_bytes=bh, backhaul_cost_usd=bh * s.backhaul_usd_per_byte,
                           egress_bytes=eg, egress_cost_usd=eg * s.egress_usd_per_byte)
    return out


def sites_summary(sc: ServingScenario, world: GeoWorld, router: SiteRouter, log: RouteLog,
                  pop_of: np.ndarray, table: RequestTable, out: FleetOutcome,
                  metas: Mapping[str, ServiceMeta], energies: Mapping[str, ServiceEnergy],
                  replicas: list[ReplicaRecord], deps: Mapping[str, Deployment],
                  rollout: RolloutOutcome | None = None) -> dict[str, Any]:
    net = _network(world, router, log, table)
    measured = ~table.warmup  # warm-up requests load the sites but are not measured
    lat = _latency(table, net, measured)
    traffic = _traffic(world, net, table)
    services = _group_summaries(table, out, metas)
    sites = _site_accounts(sc, world, table, energies, replicas, deps, traffic, services)
    fin = table.status == 0
    tokens = int(table.prompt_tokens[fin].sum() + table.output_tokens[fin].sum())
    cost = _total_cost(sites)
    pops = {}
    for pi, pop in enumerate(world.populations):
        sel = (pop_of == pi) & measured
        edge = sel & (net.site >= 0)
        at_edge = np.array([world.sites[k].kind == "edge" for k in net.site[edge]], bool)
        pops[pop.name] = {**_latency(table, net, sel), "requests": int(sel.sum()),
                          "access": pop.access,
                          "served_at_edge_frac": float(at_edge.mean()) if at_edge.size else None,
                          "relayed_frac": float((net.via[sel] >= 0).mean()) if sel.any() else None}
    summary: dict[str, Any] = {
        "kind": "serving", "scenario": sc.name, "seed": sc.seed,
        **request_counts(table),
        "end_time_s": out.end_s,
        **{k: v for k, v in lat.items() if k != "finished"},
        "placement": sc.placement.policy,
        "routing": "spillover" if sc.placement.policy == "edge-first" else sc.routing.policy,
        "deployments": [{"service": d.service, "endpoint": d.endpoint, "site": d.site,
                         "replicas": d.replicas} for d in deps.values()],
        "served_at_edge_frac": _edge_frac(world, net),
        "relayed_frac": float((net.via >= 0).mean()) if len(table) else None,
        "total_cost_usd": cost,
        "cost_per_million_tokens_usd": cost / tokens * 1e6 if cost is not None and tokens
        else None,
        "total_output_tokens": int(table.output_tokens[fin].sum()),
        "total_energy_j": sum(s["energy_j"] for s in sites.values()),
        "total_co2e_g": sum(s["co2e_g"] for s in sites.values()),
        "populations": pops, "sites": sites, "services": services,
    }
    if rollout is not None:
        summary["rollout"] = rollout_summary(sc, world, rollout, net.site, table)
    summary["explanation"] = explain(summary)
    return summary


def _edge_frac(world: GeoWorld, net: _Net) -> float | None:
    routed = net.site[net.site >= 0]
    if routed.size == 0:
        return None
    kinds = np.array([s.kind == "edge" for s in world.sites])
    return float(kinds[routed].mean())


def _site_accounts(sc: ServingScenario, world: GeoWorld, table: RequestTable,
                   energies: Mapping[str, ServiceEnergy], replicas: list[ReplicaRecord],
                   deps: Mapping[str, Deployment], traffic: dict[str, dict[str, float]],
                   services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for spec in world.sites:
        opts = next(s for s in sc.sites if s.name == spec.name)
        groups = [g for g, d in deps.items() if d.site == spec.name]
        row: dict[str, Any] = {"kind": spec.kind, "grid": spec.grid,
                               "lat": spec.lat_deg, "lon": spec.lon_deg, **traffic[spec.name]}
        acct_fields: dict[str, Any] = {"energy_j": 0.0, "co2e_g": 0.0, "cost_usd": 0.0,
                                       "gpu_hours": 0.0}
        if groups:
            cfg = sc.site.model_copy(update={
                "region": spec.grid, "cooling": opts.cooling or sc.site.cooling,
                "provider": opts.provider or sc.site.provider,
                "pricing": opts.pricing or sc.site.pricing})
            acct = account_serving(cfg, [energies[g] for g in groups],
                                   [r for r in replicas if r.service in groups], table)
            for g in groups:
                sv = services[g]
                out_tok, in_tok = finished_tokens(table, g)
                sv.update(energy_fields(acct.services[g], priced=acct.priced[g],
                                        energy_in_price=acct.energy_in_price,
                                        output_tokens=out_tok, input_tokens=in_tok,
                                        gpu_energy_j=acct.gpu_energy_j[g]))
            priced = all(acct.priced.values())
            acct_fields = energy_fields(acct.total, priced=priced,
                                        energy_in_price=acct.energy_in_price,
                                        output_tokens=0, input_tokens=0,
                                        gpu_energy_j=sum(acct.gpu_energy_j.values()))
        row.update({k: acct_fields[k] for k in ("energy_j", "co2e_g", "cost_usd", "gpu_hours")})
        if row["cost_usd"] is not None:
            row["cost_usd"] += row["backhaul_cost_usd"] + row["egress_cost_usd"]
        out[spec.name] = row
    return out


def _total_cost(sites: dict[str, dict[str, Any]]) -> float | None:
    costs = [s["cost_usd"] for s in sites.values()]
    return None if None in costs else float(sum(costs))


def _group_summaries(table: RequestTable, out: FleetOutcome,
                     metas: Mapping[str, ServiceMeta]) -> dict[str, Any]:
    start = float(np.min(table.arrival_s)) if len(table) else 0.0
    res: dict[str, Any] = {}
    for name, meta in metas.items():
        res[name] = summarize_service(meta, table, timeline_data(out.timelines[name]),
                                      out.itl.get(name), start_s=start, end_s=out.end_s,
                                      num_preemptions=out.num_preemptions.get(name, 0))
    return res


def explain(s: dict[str, Any]) -> list[str]:
    """Plain sentences: where the end-to-end latency goes and where requests were served."""
    b = s["breakdown_mean_s"]
    lines: list[str] = []
    if s["e2e_p50_s"] is not None and b["network_rtt"] is not None:
        lines.append(
            f"p50 end-to-end {s['e2e_p50_s']:.3f} s; mean split: network RTT "
            f"{b['network_rtt'] * 1e3:.1f} ms, queueing + prefill at the site "
            f"{b['queue_and_prefill']:.3f} s, decode {b['decode']:.3f} s")
    if s["served_at_edge_frac"] is not None:
        lines.append(f"{s['served_at_edge_frac']:.0%} of requests served at edge sites, "
                     f"{(s['relayed_frac'] or 0):.0%} relayed edge -> core over the backhaul "
                     f"(placement {s['placement']}, routing {s['routing']})")
    r = s.get("rollout")
    if r:
        tv = r["traffic_by_version"]
        lines.append(f"rollout of {r['version']} ({r['distribution']}): {r['sites_updated']} "
                     f"site(s) updated, {r['sites_failed']} failed, version skew "
                     f"{r['version_skew_s']:.0f} s; requests served by {r['version']}: "
                     f"{tv[r['version']]['requests']}, by the previous version: "
                     f"{tv['previous']['requests']}")
    return lines
