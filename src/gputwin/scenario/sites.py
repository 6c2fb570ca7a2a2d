"""The ``sites:``, ``users:``, ``routing:``, ``placement:`` and ``variants:`` sections of a
serving scenario: where replicas run, where users are, how requests find a site.

::

    sites:
      - {name: core, kind: core, location: aws/us-east-1, gpus: {h100-sxm-80gb: 64}}
      - name: edge-dallas
        kind: edge
        location: metro/dallas
        gpus: {l40s: 16}
        backhaul: {bandwidth: 10Gbps, price_per_gb: 0.02}
    users:
      - {name: dallas, location: metro/dallas, share: 0.6, access: 5g}
    routing: {policy: spillover}
    placement: {policy: edge-first}
    serving:
      services:
        - {name: chat-70b, endpoint: chat, model: llama3.1-70b, gpu: h100-sxm-80gb, tp: 4,
           sites: {core: 2}}

Cross-checks needing the catalog and the geography (unknown location, a grid zone we do
not have, replicas beyond a site's GPUs, a population with no reachable site) are in
:func:`check_sites`, which names ``file:line: key``. See docs/sites.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gputwin.quantities import BytesPerS, Seconds

NonNegInt = Annotated[int, Field(ge=0)]


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackhaulOptions(_M):
    bandwidth: BytesPerS = Field(default=1.25e9, gt=0, description="Site ↔ core link, "
                                 "e.g. 10Gbps")
    price_per_gb: float = Field(default=0.0, ge=0, description="USD per GB carried")


class SiteOptions(_M):
    """A core region or an edge site: where it is, what it holds, how it is connected."""

    name: str
    kind: Literal["core", "edge"] = "core"
    location: str | None = Field(default=None, description="Bundled place (aws/us-east-1, "
                                 "metro/new-york; gputwin sites list) or give lat/lon")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    grid_region: str | None = Field(default=None, description="Grid zone (default: the "
                                    "place's)")
    cooling: str | None = None
    provider: Literal["hyperscaler", "neocloud", "marketplace", "owned"] | None = Field(
        default=None, description="Price book class (default: the scenario's site:)")
    pricing: Literal["on-demand", "reserved", "spot"] | None = None
    gpus: dict[str, NonNegInt] = Field(default_factory=dict, description="GPUs by catalog "
                                       "accelerator (capacity)")
    backhaul: BackhaulOptions = BackhaulOptions()
    egress_price_per_gb: float = Field(default=0.0, ge=0, description="Internet egress to "
                                       "users, USD per GB (e.g. 0.09 for a hyperscaler)")
    radius_km: float | None = Field(default=None, gt=0, description="Users farther away "
                                    "cannot reach it (default: edge 300 km, core: anywhere)")

    @model_validator(mode="after")
    def _where(self) -> SiteOptions:
        if self.location is None and (self.lat is None or self.lon is None):
            raise ValueError("give a `location` (bundled place) or both `lat` and `lon`")
        return self

    @property
    def reach_m(self) -> float:
        if self.radius_km is not None:
            return self.radius_km * 1e3
        return 300e3 if self.kind == "edge" else float("inf")


class DiurnalOptions(_M):
    """Traffic weight ``1 + amplitude · cos(2π (local hour − peak_hour) / 24)``."""

    peak_hour: float = Field(default=20.0, ge=0, lt=24, description="Local solar time")
    amplitude: float = Field(default=0.5, ge=0, le=1)


class UserOptions(_M):
    """A user population: where, what share of the traffic, over which access network."""

    name: str
    location: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    share: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    access: Literal["fibre", "cable", "dsl", "4g", "5g"] = "fibre"
    diurnal: DiurnalOptions | None = None
    max_rtt: Seconds | None = Field(default=None, gt=0, description="Sites with a larger "
                                    "network RTT are unreachable")

    @model_validator(mode="after")
    def _where(self) -> UserOptions:
        if self.location is None and (self.lat is None or self.lon is None):
            raise ValueError("give a `location` (bundled place) or both `lat` and `lon`")
        return self


RoutingPolicy = Literal["nearest", "latency", "cost", "carbon", "spillover"]
PlacementPolicy = Literal["as-declared", "core-only", "edge-first", "slo-driven"]


class RoutingOptions(_M):
    policy: RoutingPolicy = "latency"
    full_at: float = Field(default=1.0, gt=0, description="A site group is full when its "
                           "requests outstanding reach full_at x replicas x max_num_seqs")


class PlacementOptions(_M):
    policy: PlacementPolicy = "as-declared"


class VariantOptions(_M):
    """One variant of ``gputwin compare``: a label and ``key=value`` overrides."""

    label: str
    set: list[str] = Field(default_factory=list)


def no_sites_without_users(data: Any) -> Any:
    """``sites:`` and ``users:`` go together (a before-validator of the scenario root)."""
    if isinstance(data, dict) and bool(data.get("sites")) != bool(data.get("users")):
        missing = "users" if data.get("sites") else "sites"
        raise ValueError(f"`sites:` and `users:` go together: add `{missing}:`")
    return data
