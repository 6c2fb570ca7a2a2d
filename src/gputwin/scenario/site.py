"""The ``site:`` section of a scenario: where the cluster runs and how it is powered.

Region (grid carbon, price and climate), cooling (PUE/WUE and rack power limit), the rack
layout, an optional site power budget, where the grid data comes from, the forecast
carbon-aware plugins use, and how compute is paid for. Everything is optional except the
presence of the section itself; defaults reproduce a hyperscale air-cooled hall.

Names (region, cooling) are checked by pydantic (unknown names suggest close matches);
:func:`check_site` cross-checks the section against the cluster's system at load time
(e.g. a liquid-cooled GB200 NVL72 tray in an air-cooled rack is an error naming
``site.cooling``). :func:`rack_layout` derives nodes per rack and the rack power limit.
See docs/energy.md ("In the simulator") and docs/scenario.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from gputwin.catalog.loader import Catalog
from gputwin.catalog.schema import Accelerator, System
from gputwin.energy.facility import rack_can_host, rack_power_w
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.limits import GpuCount
from gputwin.quantities import Watts
from gputwin.scenario.supply import PowerSupplyConfig

#: Key path → "file:line" or "--set ..." (same as scenario.check.Locator).
Locator = Callable[[tuple[str | int, ...]], str]

#: Nodes per rack when ``energy/data/facility.yaml`` has no entry for the system.
DEFAULT_NODES_PER_RACK = 4


class RackConfig(InputModel):
    """Rack layout: consecutive node indices fill racks of ``nodes_per_rack``."""

    nodes_per_rack: GpuCount | None = Field(  # bounded like cluster.num_nodes (limits.py)
        default=None, description="Default: energy/data/facility.yaml for the system "
        "(4 for DGX/HGX), lowered until a full rack's nameplate fits the power limit")
    power_limit: Watts | None = Field(
        default=None, gt=0, description="Rack power limit, e.g. 40kW (default: the cooling "
        "type's limit)")


def no_pricing_when_owned(value: str | None, info: ValidationInfo) -> str | None:
    """A ``pricing`` field validator: refused beside ``provider: owned`` (a model's
    ``provider`` field comes before its ``pricing``)."""
    from gputwin.energy.accounting import owned_pricing_problem

    problem = owned_pricing_problem(info.data.get("provider"), value)
    if problem is not None:
        raise ValueError(problem)
    return value


class SiteConfig(InputModel):
    """The ``site:`` section (see the module docstring and docs/scenario.md)."""

    region: str = Field(default="US-CAL-CISO", description="Grid zone (gputwin estimate "
                        "energy --help lists them), e.g. US-CAL-CISO, DE-LU, GB, SG")
    cooling: str | None = Field(default=None, description="air | air-legacy | liquid | "
                                "immersion (default: liquid for liquid-cooled systems, else air)")
    pue: float | None = Field(default=None, ge=1.0, description="Fixed PUE instead of PUE(T)")
    start: str = Field(default="2023-01-01T00:00", description="Date of simulation time 0 "
                       "in the grid's (typical) year")
    grid_data: str = Field(default="synthetic", description="synthetic (bundled profiles) "
                           "or a folder holding grid/carbon-2023 and grid/price-2023 "
                           "(e.g. ../shared/data)")
    forecast: Literal["perfect", "persistence", "noisy"] = Field(
        default="perfect", description="Forecast handed to carbon-aware plugins")
    forecast_error: float = Field(default=0.10, ge=0.0, description="noisy: relative error "
                                  "per day of horizon")
    racks: RackConfig = RackConfig()
    power_budget: Watts | None = Field(default=None, gt=0, description="Site facility power "
                                       "cap, e.g. 2MW (jobs queue, or are capped, above it)")
    budget_policy: Literal["queue", "cap"] = Field(
        default="queue", description="Above the budget: queue the job, or power-cap its GPUs "
        "(slower) when a cap of at least the driver minimum makes it fit")
    provider: Literal["hyperscaler", "neocloud", "marketplace", "owned"] | None = Field(
        default=None, description="Price book class, or owned (capex amortised). Default: "
        "the first class the price book lists the part at (neocloud, then hyperscaler, then "
        "marketplace: TPUs, Trainium and Inferentia are rented from their cloud only)")
    pricing: Literal["on-demand", "reserved", "spot"] | None = Field(
        default=None, description="Default: the first pricing listed for the part and "
        "provider (on-demand, then reserved, then spot)")
    include_grid_water: bool = Field(default=False, description="Add water consumed by "
                                     "power generation upstream")
    power_supply: PowerSupplyConfig | None = Field(
        default=None, description="PPAs, on-site generation, a battery and the grid "
        "interconnection limit (docs/energy.md, 'Power supply in runs')")
    trace_compute_frac: float = Field(
        default=0.52, ge=0.0, le=1.0, description="Compute share of jobs without a training "
        "model (traces): Jeon et al., ATC 2019, report ~52 % mean GPU utilisation in Philly")

    _owned_has_no_pricing = field_validator("pricing")(no_pricing_when_owned)

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        try:
            default_tables().region(value)
        except InputError as exc:
            raise ValueError(exc.detail) from None
        return value

    @field_validator("cooling")
    @classmethod
    def _known_cooling(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                default_tables().cooling_type(value)
            except InputError as exc:
                raise ValueError(exc.detail) from None
        return value

    @field_validator("start")
    @classmethod
    def _date(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a date such as 2023-06-01T00:00, got {value!r}"
                             ) from None
        return value

    @property
    def effective_power_budget_w(self) -> float | None:
        """The site budget the scheduler enforces: ``power_budget``, else the power supply's
        interconnect + firm on-site output (the lower of the two when both are set)."""
        grid = None if self.power_supply is None else self.power_supply.grid_budget_w()
        if self.power_budget is None or grid is None:
            return self.power_budget if grid is None else grid
        return min(self.power_budget, grid)

    @property
    def start_offset_s(self) -> float:
        """Seconds from 1 January of the start's year to ``start``."""
        t = datetime.fromisoformat(self.start).replace(tzinfo=None)
        return (t - datetime(t.year, 1, 1)).total_seconds()

    def cooling_for(self, system: System) -> str:
        """The cooling type in effect (default follows the system's own cooling)."""
        if self.cooling is not None:
            return self.cooling
        return "liquid" if system.cooling == "liquid" else "air"


@dataclass(frozen=True, slots=True)
class RackLayout:
    """Nodes per rack and the rack power limit (W) in effect, and the full-rack check."""

    nodes_per_rack: int
    power_limit_w: float
    cooling: str
    full_rack_nameplate_w: float
    full_rack_fits: bool


def rack_layout(site: SiteConfig, acc: Accelerator, system: System) -> RackLayout:
    """Derive the rack layout (see :class:`RackConfig`). Raises InputError if a rack of
    the site's cooling cannot hold even one node of ``system``."""
    cooling = site.cooling_for(system)
    cool = default_tables().cooling_type(cooling)
    limit = site.racks.power_limit or cool.max_rack_power_w
    one = rack_can_host(acc, system, 1, cooling)
    if not one.ok and "liquid-cooled" in one.reason:
        raise InputError(one.reason + "; use cooling: liquid (or immersion)",
                         where="site.cooling")
    if rack_power_w(acc, system, 1) > limit:
        raise InputError(f"one {system.name} needs {rack_power_w(acc, system, 1) / 1e3:.1f} kW,"
                         f" above the {limit / 1e3:.1f} kW rack limit", where="site.racks")
    n = site.racks.nodes_per_rack
    if n is None:
        n = default_tables().facility.nodes_per_rack.get(system.name, DEFAULT_NODES_PER_RACK)
        while n > 1 and rack_power_w(acc, system, n) > limit:
            n -= 1
    full = rack_power_w(acc, system, n)
    return RackLayout(n, limit, cooling, full, full <= limit)


def check_site(site: SiteConfig | None, catalog: Catalog, system: str | None,
               gpu: str | None, locate: Locator) -> None:
    """Load-time cross-check of the site against the cluster (``cluster.system``/``gpu``
    names); raises :class:`InputError` naming the field and where it came from."""
    if site is None:
        return
    sys_, acc = cluster_hardware(catalog, system, gpu)
    if sys_ is None or acc is None:
        return
    try:
        rack_layout(site, acc, sys_)
    except InputError as exc:
        field = exc.where or "site"
        path: tuple[str | int, ...] = tuple(field.split("."))
        raise InputError(exc.detail, where=f"{locate(path)}: {field}") from None


def cluster_hardware(catalog: Catalog, system: str | None,
                     gpu: str | None) -> tuple[System | None, Accelerator | None]:
    """The cluster's system and accelerator by name (``None`` when unresolvable)."""
    sys_ = catalog.systems.get(system) if system else None
    if sys_ is None and gpu is not None:
        sys_ = next((s for s in catalog.systems.values() if s.accelerator == gpu), None)
    if sys_ is None:
        return None, None
    return sys_, catalog.accelerators.get(sys_.accelerator)
