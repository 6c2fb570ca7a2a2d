"""The resolved geo world: sites, user populations and deployments as plain data (SI).

Built once per run from the scenario (:mod:`gputwin.scenario.sites_check`); the routing
and placement code reads only these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gputwin.sites.geo import great_circle_m
from gputwin.sites.latency import NetworkModel


@dataclass(frozen=True, slots=True)
class SiteSpec:
    name: str
    kind: str  # "core" | "edge"
    lat_deg: float
    lon_deg: float
    grid: str  # electricity zone
    reach_m: float  # users farther away cannot use it (inf: anywhere)
    backhaul_bytes_per_s: float
    backhaul_usd_per_byte: float
    egress_usd_per_byte: float


@dataclass(frozen=True, slots=True)
class Population:
    name: str
    lat_deg: float
    lon_deg: float
    share: float
    access: str
    peak_hour: float | None  # local solar time of the diurnal peak; None = flat
    amplitude: float
    max_rtt_s: float | None

    def weight_at(self, t_utc_hours: float) -> float:
        """Relative traffic weight at UTC hour ``t`` (share × diurnal factor)."""
        if self.peak_hour is None:
            return self.share
        local = t_utc_hours + self.lon_deg / 15.0
        return self.share * (1.0 + self.amplitude * math.cos(
            2.0 * math.pi * (local - self.peak_hour) / 24.0))


@dataclass(frozen=True, slots=True)
class Deployment:
    """``replicas`` replicas of service ``service`` (serving ``endpoint``) at ``site``."""

    service: str
    endpoint: str
    site: str
    replicas: int

    @property
    def group(self) -> str:
        """The fleet service name of this deployment."""
        return f"{self.service}@{self.site}"


@dataclass(frozen=True, slots=True)
class GeoWorld:
    sites: tuple[SiteSpec, ...]
    populations: tuple[Population, ...]
    deployments: tuple[Deployment, ...]
    network: NetworkModel

    def site(self, name: str) -> SiteSpec:
        return next(s for s in self.sites if s.name == name)

    def distance_m(self, pop: Population, site: SiteSpec) -> float:
        return great_circle_m(pop.lat_deg, pop.lon_deg, site.lat_deg, site.lon_deg)

    def user_rtt_s(self, pop: Population, site: SiteSpec) -> float:
        return self.network.user_rtt_s(pop.access, pop.lat_deg, pop.lon_deg, site.lat_deg,
                                       site.lon_deg)

    def site_rtt_s(self, a: SiteSpec, b: SiteSpec) -> float:
        return self.network.site_rtt_s(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg)

    def reachable(self, pop: Population, site: SiteSpec) -> bool:
        """Within the site's reach and the population's RTT limit."""
        if self.distance_m(pop, site) > site.reach_m:
            return False
        return pop.max_rtt_s is None or self.user_rtt_s(pop, site) <= pop.max_rtt_s
