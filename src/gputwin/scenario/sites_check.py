"""Resolve and cross-check the ``sites:`` / ``users:`` sections of a serving scenario.

:func:`resolve_geo` turns them into a :class:`~gputwin.sites.model.GeoWorld` (bundled
places looked up, grid zones checked, deployments from each service's ``sites:``);
:func:`check_sites` also checks GPU capacity per site and that every user population
reaches a site serving each endpoint it calls. Every error names ``file:line: key``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gputwin.catalog.loader import Catalog
from gputwin.energy.regions import known_regions
from gputwin.errors import InputError, UnknownNameError
from gputwin.scenario.site import cluster_hardware
from gputwin.sites.geo import place
from gputwin.sites.latency import NetworkModel
from gputwin.sites.model import Deployment, GeoWorld, Population, SiteSpec
from gputwin.yaml_io import KeyPath

if TYPE_CHECKING:
    from gputwin.scenario.serving import ServingScenario

Where = Callable[[KeyPath], str]
_GB = 1e9


def _dotted(key: KeyPath) -> str:
    return ".".join(str(k) for k in key)


def _site(i: int, s: object, where: Where) -> SiteSpec:
    from gputwin.scenario.sites import SiteOptions

    assert isinstance(s, SiteOptions)
    key: KeyPath = ("sites", i)
    lat, lon, grid = s.lat, s.lon, s.grid_region
    if s.location is not None:
        p = place(s.location, where=where((*key, "location")))
        lat, lon, grid = p.lat_deg, p.lon_deg, grid or p.grid
    if grid is None:
        raise InputError(f"site {s.name!r}: {s.location or 'this location'} lies in no bundled "
                         "grid zone; give grid_region", where=where((*key, "grid_region")))
    if grid not in known_regions():
        raise UnknownNameError("grid region", grid, known_regions(),
                               where=where((*key, "grid_region" if s.grid_region
                                            else "location")))
    assert lat is not None and lon is not None
    bh = s.backhaul
    return SiteSpec(s.name, s.kind, lat, lon, grid, s.reach_m, bh.bandwidth,
                    bh.price_per_gb / _GB, s.egress_price_per_gb / _GB)


def _population(i: int, u: object, where: Where) -> Population:
    from gputwin.scenario.sites import UserOptions

    assert isinstance(u, UserOptions)
    lat, lon = u.lat, u.lon
    if u.location is not None:
        p = place(u.location, where=where(("users", i, "location")))
        lat, lon = p.lat_deg, p.lon_deg
    assert lat is not None and lon is not None
    d = u.diurnal
    return Population(u.name, lat, lon, u.share, u.access, d.peak_hour if d else None,
                      d.amplitude if d else 0.0, u.max_rtt)


def resolve_geo(sc: ServingScenario, where: Where | None = None) -> GeoWorld:
    """The geo world of ``sc`` (raises :class:`InputError` naming the key)."""
    loc = where or _dotted
    names = [s.name for s in sc.sites]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise InputError(f"site name {n!r} is used twice", where=loc(("sites", i, "name")))
    sites = tuple(_site(i, s, loc) for i, s in enumerate(sc.sites))
    pops = tuple(_population(i, u, loc) for i, u in enumerate(sc.users))
    deps: list[Deployment] = []
    for i, svc in enumerate(sc.serving.services):
        if not svc.sites:
            raise InputError(f"service {svc.name!r}: with `sites:` every service names the "
                             "sites it runs on (sites: {site: replicas})",
                             where=loc(("serving", "services", i, "sites")))
        for site, count in svc.sites.items():
            if site not in names:
                raise UnknownNameError("site", site, names,
                                       where=loc(("serving", "services", i, "sites", site)))
            deps.append(Deployment(svc.name, svc.endpoint_name, site, count))
    return GeoWorld(sites, pops, tuple(deps), NetworkModel.bundled())


def check_sites(sc: ServingScenario, catalog: Catalog, where: Where) -> GeoWorld:
    """:func:`resolve_geo` plus GPU capacity and reachability checks."""
    world = resolve_geo(sc, where)
    _check_capacity(sc, catalog, where)
    _check_reachable(sc, world, where)
    rollout_targets(sc, world, where)
    _check_outages(sc, world, where)
    return world


def _check_outages(sc: ServingScenario, world: GeoWorld, where: Where) -> None:
    """Each ``serving.failures.site_outages`` entry names a site of ``sites:``."""
    failures = sc.serving.failures
    names = [s.name for s in world.sites]
    for i, o in enumerate(failures.site_outages if failures is not None else []):
        if o.site not in names:
            raise UnknownNameError("site", o.site, names,
                                   where=where(("serving", "failures", "site_outages", i,
                                                "site")))


def rollout_targets(sc: ServingScenario, world: GeoWorld, where: Where | None = None
                    ) -> list[SiteSpec]:
    """The sites a ``rollout:`` updates (edge sites by default), in scenario order."""
    if sc.rollout is None:
        return []
    loc = where or _dotted
    names = [s.name for s in world.sites]
    if sc.rollout.targets == "edge":
        out = [s for s in world.sites if s.kind == "edge"]
    else:
        for i, t in enumerate(sc.rollout.targets):
            if t not in names:
                raise UnknownNameError("site", t, names, where=loc(("rollout", "targets", i)))
        out = [world.site(t) for t in sc.rollout.targets]
    if not out:
        raise InputError("the rollout has no target site", where=loc(("rollout", "targets")))
    return out


def _check_capacity(sc: ServingScenario, catalog: Catalog, where: Where) -> None:
    used: dict[tuple[str, str], int] = {}
    for i, svc in enumerate(sc.serving.services):
        _, acc = cluster_hardware(catalog, svc.system, svc.gpu)
        name = acc.name if acc is not None else (svc.gpu or "")
        gpus = svc.tp * svc.pp * svc.dp_attention
        for site, n in (svc.sites or {}).items():
            total = used[(site, name)] = used.get((site, name), 0) + n * gpus
            cap = next(s for s in sc.sites if s.name == site).gpus.get(name, 0)
            if total > cap:
                si = next(j for j, s in enumerate(sc.sites) if s.name == site)
                raise InputError(
                    f"site {site!r} holds {cap} {name} GPU(s); the replicas placed there need "
                    f"{total} (sites[{si}].gpus.{name})",
                    where=where(("serving", "services", i, "sites", site)))


def _check_reachable(sc: ServingScenario, world: GeoWorld, where: Where) -> None:
    endpoints = {w.service for w in sc.serving.workload}
    by_name = {s.name: s.endpoint_name for s in sc.serving.services}
    wanted = {by_name.get(e, e) for e in endpoints}
    for i, pop in enumerate(world.populations):
        for ep in sorted(wanted):
            sites = {d.site for d in world.deployments if d.endpoint == ep}
            if not any(world.reachable(pop, world.site(s)) for s in sites):
                raise InputError(
                    f"user population {pop.name!r} reaches no site serving {ep!r} (sites "
                    f"{sorted(sites)}: beyond their radius_km or the population's max_rtt)",
                    where=where(("users", i)))
