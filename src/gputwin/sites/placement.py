"""Placement policies: which deployments (service × site) a run keeps.

- ``as-declared``: every deployment the scenario lists.
- ``core-only``: only those at core sites (the edge sites sit unused).
- ``edge-first``: every deployment, routed edge first with spill-over to the core (the
  policy sets routing to ``spillover``).
- ``slo-driven``: an edge deployment is kept only where some population it serves would
  miss its endpoint's TTFT SLO from the core: ``min over core groups (RTT + ttft_est) >
  slo_ttft``. Without a TTFT SLO nothing needs the edge (core-only).

Raises :class:`InputError` when a policy leaves an endpoint without any deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gputwin.errors import InputError
from gputwin.sites.model import Deployment, GeoWorld

PLACEMENT_POLICIES = ("as-declared", "core-only", "edge-first", "slo-driven")


def place(policy: str, world: GeoWorld, *, ttft_est_s: Mapping[str, float],
          slo_ttft_s: Mapping[str, float | None]) -> list[Deployment]:
    """The deployments kept by ``policy``; ``ttft_est_s`` by service, ``slo_ttft_s`` by
    endpoint."""
    deps = list(world.deployments)
    if policy in ("as-declared", "edge-first"):
        kept = deps
    elif policy == "core-only":
        kept = [d for d in deps if world.site(d.site).kind == "core"]
    elif policy == "slo-driven":
        kept = [d for d in deps if world.site(d.site).kind == "core"
                or _edge_needed(d, deps, world, ttft_est_s, slo_ttft_s.get(d.endpoint))]
    else:
        raise InputError(f"unknown placement policy {policy!r}; expected one of "
                         f"{', '.join(PLACEMENT_POLICIES)}", where="placement.policy")
    _every_endpoint_served(deps, kept, policy)
    return kept


def _edge_needed(d: Deployment, deps: Sequence[Deployment], world: GeoWorld,
                 ttft_est_s: Mapping[str, float], slo: float | None) -> bool:
    if slo is None:
        return False
    site = world.site(d.site)
    cores = [c for c in deps if c.endpoint == d.endpoint and world.site(c.site).kind == "core"]
    for pop in world.populations:
        if not world.reachable(pop, site):
            continue
        best = min((world.user_rtt_s(pop, world.site(c.site)) + ttft_est_s[c.service]
                    for c in cores if world.reachable(pop, world.site(c.site))),
                   default=float("inf"))
        if best > slo:
            return True
    return False


def _every_endpoint_served(before: Sequence[Deployment], after: Sequence[Deployment],
                           policy: str) -> None:
    lost = sorted({d.endpoint for d in before} - {d.endpoint for d in after})
    if lost:
        raise InputError(f"placement {policy!r} leaves endpoint(s) {lost} with no "
                         "deployment (add a core site deployment)", where="placement.policy")
