"""Which site a request goes to: the candidates of each (population, endpoint) and the
routing policies over them.

A *group* is one deployment (a service's replicas at one site). For a population and the
endpoint its request names, the candidates are the endpoint's groups at sites the
population can reach, each with its network RTT. Policies:

- ``nearest``: the smallest RTT among groups with a replica serving (load ignored).
- ``latency``: the smallest ``RTT + ttft_est · (1 + queued / replicas)``, where
  ``queued`` is the group's requests beyond its seats (``replicas · max_num_seqs``) and
  ``ttft_est`` the group's unloaded time to first token (load-aware).
- ``cost``: the cheapest group (replica price per hour) that is not full, then RTT.
- ``carbon``: the group whose grid is cleanest now that is not full, then RTT.
- ``spillover``: the nearest edge group that is not full; else a core group reached
  *through* the population's nearest edge site (user → edge → core over the backhaul).

A group is *full* when its outstanding requests reach ``full_at · replicas ·
max_num_seqs``. When every candidate is full, ``cost``, ``carbon`` and ``spillover``
fall back to ``latency``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gputwin.errors import InputError
from gputwin.sites.model import GeoWorld, Population, SiteSpec

#: ``group → (outstanding requests, accepting replicas)`` right now.
LoadFn = Callable[[str], tuple[int, int]]
#: ``(grid zone, t_s) → g CO2e per kWh`` right now.
CarbonFn = Callable[[str, float], float]

ROUTING_POLICIES = ("nearest", "latency", "cost", "carbon", "spillover")


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What the router knows of a group besides its load."""

    group: str
    site: SiteSpec
    max_num_seqs: int
    ttft_est_s: float  # unloaded server-side TTFT of a typical request
    usd_per_replica_h: float


@dataclass(frozen=True, slots=True)
class Route:
    """One way a population's request can be served."""

    index: int  # into SiteRouter.routes
    facts: GroupFacts
    rtt_s: float  # user ↔ serving site, through ``via`` when set
    via: SiteSpec | None  # ingress edge site when the request is relayed over backhaul


class SiteRouter:
    """Chooses a route per request (deterministic: ties go to the first candidate)."""

    def __init__(self, world: GeoWorld, groups: Sequence[GroupFacts], endpoint_of: dict[str, str],
                 policy: str, *, load: LoadFn, carbon: CarbonFn | None = None,
                 full_at: float = 1.0) -> None:
        if policy not in ROUTING_POLICIES:
            raise InputError(f"unknown routing policy {policy!r}; expected one of "
                             f"{', '.join(ROUTING_POLICIES)}")
        self.world, self.policy, self.full_at = world, policy, full_at
        self._load, self._carbon = load, carbon
        self.routes: list[Route] = []
        self._cands: dict[tuple[int, str], list[Route]] = {}
        for pi, pop in enumerate(world.populations):
            for g in groups:
                if world.reachable(pop, g.site):
                    self._add(pi, endpoint_of[g.group], g, world.user_rtt_s(pop, g.site), None)
            if policy == "spillover":
                self._add_relays(pi, pop, groups, endpoint_of)

    def _add(self, pi: int, endpoint: str, g: GroupFacts, rtt_s: float,
             via: SiteSpec | None) -> None:
        route = Route(len(self.routes), g, rtt_s, via)
        self.routes.append(route)
        self._cands.setdefault((pi, endpoint), []).append(route)

    def _add_relays(self, pi: int, pop: Population, groups: Sequence[GroupFacts],
                    endpoint_of: dict[str, str]) -> None:
        """Core groups reached through the population's nearest reachable edge site."""
        edges = [s for s in self.world.sites if s.kind == "edge" and self.world.reachable(pop, s)]
        if not edges:
            return
        ingress = min(edges, key=lambda s: self.world.user_rtt_s(pop, s))
        for g in groups:
            if g.site.kind == "core":
                rtt = (self.world.user_rtt_s(pop, ingress)
                       + self.world.site_rtt_s(ingress, g.site))
                self._add(pi, endpoint_of[g.group], g, rtt, ingress)

    def candidates(self, pop_index: int, endpoint: str) -> list[Route]:
        return self._cands.get((pop_index, endpoint), [])

    def _full(self, r: Route) -> bool:
        out, reps = self._load(r.facts.group)
        return reps == 0 or out >= self.full_at * reps * r.facts.max_num_seqs

    def _latency_score(self, r: Route) -> float:
        out, reps = self._load(r.facts.group)
        if reps == 0:
            return float("inf")
        queued = max(0, out - reps * r.facts.max_num_seqs)
        return r.rtt_s + r.facts.ttft_est_s * (1.0 + queued / reps)

    def choose(self, pop_index: int, endpoint: str, now_s: float) -> Route:
        cands = self.candidates(pop_index, endpoint)
        policy = self.policy
        if policy == "nearest":  # the nearest with a replica serving (health-checked)
            direct = [r for r in cands if r.via is None] or cands
            up = [r for r in direct if self._load(r.facts.group)[1] > 0] or direct
            return min(up, key=lambda r: r.rtt_s)
        if policy == "spillover":
            edge = [r for r in cands if r.facts.site.kind == "edge" and r.via is None]
            free = [r for r in edge if not self._full(r)]
            if free:
                return min(free, key=lambda r: r.rtt_s)
            relay = [r for r in cands if r.via is not None] or [
                r for r in cands if r.facts.site.kind == "core"]
            if relay:
                return min(relay, key=self._latency_score)
        elif policy in ("cost", "carbon"):
            free = [r for r in cands if r.via is None and not self._full(r)]
            if free:
                if policy == "cost":
                    return min(free, key=lambda r: (r.facts.usd_per_replica_h, r.rtt_s))
                assert self._carbon is not None
                carbon = self._carbon
                return min(free, key=lambda r: (carbon(r.facts.site.grid, now_s), r.rtt_s))
        direct = [r for r in cands if r.via is None] or cands
        return min(direct, key=self._latency_score)
