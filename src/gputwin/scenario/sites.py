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

import itertools
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gputwin.input_model import InputModel
from gputwin.quantities import Bytes, BytesPerS, Seconds
from gputwin.scenario.site import no_pricing_when_owned

NonNegInt = Annotated[int, Field(ge=0)]


class _M(InputModel):
    """The rules of every user input (:class:`gputwin.input_model.InputModel`)."""


class BackhaulOptions(_M):
    bandwidth: BytesPerS = Field(default=1.25e9, gt=0, description="Site ↔ core link, "
                                 "e.g. 10Gbps")
    price_per_gb: float = Field(default=0.0, ge=0, description="USD per GB carried")


class SiteOptions(_M):
    """A core region or an edge site: where it is, what it holds, how it is connected."""

    name: str
    kind: Literal["core", "edge"] = "core"
    location: str | None = Field(default=None, description="Bundled place (aws/us-east-1, "
                                 "metro/new-york; sites/data/geography.yaml) or lat/lon")
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

    _owned_has_no_pricing = field_validator("pricing")(no_pricing_when_owned)

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
    share: float = Field(default=1.0, gt=0)
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


class ArtifactOptions(_M):
    name: str = "model"
    version: str = Field(description="The version rolled out (the old one keeps serving "
                         "until a site switches)")
    size: Bytes = Field(gt=0, description="Bytes shipped to each site, e.g. 16GB")


class DistributionOptions(_M):
    mode: Literal["origin", "regional-cache", "p2p"] = "regional-cache"
    origin_bandwidth: BytesPerS = Field(default=1.25e9, gt=0, description="Origin upload")
    cache_bandwidth: BytesPerS = Field(default=12.5e9, gt=0, description="Regional cache "
                                       "upload")
    efficiency: float = Field(default=1.0, gt=0, le=1, description="Achieved share of the "
                              "ideal distribution bound (protocol overheads)")


class StrategyOptions(_M):
    waves: list[float] = Field(default_factory=lambda: [0.1, 0.5, 1.0], min_length=1,
                               description="Cumulative share of the targets after each "
                               "wave (canary first); ends at 1")
    install: Seconds = Field(default=60.0, ge=0, description="Load the weights, warm up")
    health_check: Seconds = Field(default=120.0, ge=0)
    failure_prob: float = Field(default=0.0, ge=0, lt=1, description="Per attempt")
    max_retries: int = Field(default=2, ge=0)
    retry_delay: Seconds = Field(default=60.0, ge=0)
    halt_failure_frac: float = Field(default=0.5, ge=0, le=1, description="Halt when a "
                                     "wave's failed share exceeds this")

    @model_validator(mode="after")
    def _waves(self) -> StrategyOptions:
        w = self.waves
        rising = all(b > a for a, b in itertools.pairwise(w))
        if any(not 0 < x <= 1 for x in w) or not rising or w[-1] != 1:
            raise ValueError(f"waves must increase within (0, 1] and end at 1, got {w}")
        return self


class RolloutOptions(_M):
    """A new model version rolled out to edge sites (docs/sites.md, "Rollouts")."""

    artifact: ArtifactOptions
    targets: list[str] | Literal["edge"] = Field(default="edge", description="Site names, "
                                                  "or every edge site")
    start: Seconds = Field(default=0.0, ge=0)
    distribution: DistributionOptions = DistributionOptions()
    strategy: StrategyOptions = StrategyOptions()
