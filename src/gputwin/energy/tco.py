"""Total cost of ownership of an owned accelerator, per GPU-year and per GPU-hour.

Lives in ``energy/`` (beside the price book) so the energy ledger's ``owned`` rate and
``economics/`` use the same figures. Annual cost of one GPU (all USD, ``tco.yaml`` and the
price book):

- hardware capital: (server capex per GPU + network + storage) x CRF(r, depreciation years);
- facility capital: facility capex per MW of critical IT load x the GPU's peak IT power
  (accelerator at full activity plus its host share) x CRF(r, facility years);
- maintenance: a fraction of the hardware capex a year;
- staff: loaded cost per FTE / GPUs per FTE;
- power: mean IT power (at ``activity_frac``) x PUE x 8760 h x electricity price.

``CRF(r, n) = r / (1 - (1 + r)^-n)`` (``1/n`` at ``r = 0``): the level yearly payment that
repays the capital with interest -- financing is inside it. The hourly figure divides by
8760 wall-clock hours: an owned GPU costs the same whether busy or idle (except power).

**The one owned-cost rule** (:func:`owned_rate`, used by the energy ledger's ``owned``
rate, ``plan serve``, ``estimate tco``, ``simulate``/``simulate serve``): an owned GPU-hour
*held* costs the fixed items above per wall-clock hour, with no utilisation divisor -- a
run that holds GPUs pays for every held second itself (serving replicas, a cluster's free
slots), so spreading the year over an assumed busy share as well would bill the idle
hours twice. Power is the draw: the energy ledger bills it from the modelled power and
the site's grid price where a run has one; without a ledger it is the ``power`` item at
the assumptions' mean activity. What an idle share of a fleet costs per *useful* hour is
asked explicitly (``economics train --utilisation``; ``estimate tco`` sizes for the peak).
Serving fleets are priced with :data:`SERVING_NETWORK`, training with InfiniBand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from gputwin.catalog.schema import Accelerator, System
from gputwin.energy.power import job_power
from gputwin.energy.tables import DATA_DIR, ESTIMATE_NOTE, default_tables
from gputwin.errors import InputError, UnknownNameError, check_number
from gputwin.yaml_io import load_validated

HOURS_PER_YEAR = 8760.0

NetworkClass = Literal["infiniband", "ethernet", "none"]
#: the fabric an owned *serving* fleet is priced with (``simulate serve``, ``plan serve``,
#: ``estimate tco``, ``estimate video``): RoCE Ethernet, ~40 % below InfiniBand
#: (``tco.yaml`` ``network_source``); a serving replica's traffic is mostly inside a node
SERVING_NETWORK: NetworkClass = "ethernet"
#: the fabric of an owned *training* fleet (cluster runs, ``estimate energy``, ``plan train``)
TRAINING_NETWORK: NetworkClass = "infiniband"


class EdgeCosts(BaseModel):
    """What replaces the data-centre items for a node at an edge site (``tco.yaml`` ``edge``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    network_usd_per_gpu: float = Field(ge=0)
    storage_usd_per_gpu: float = Field(ge=0)
    facility_usd_per_gpu: float = Field(ge=0)
    staff_gpus_per_fte: float = Field(gt=0)
    pue: float = Field(ge=1.0)
    source: str = Field(min_length=8)


class TcoTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    """Owned-fleet cost assumptions (see the header of ``tco.yaml``)."""

    depreciation_years: float = Field(gt=0)
    depreciation_source: str = Field(min_length=8)
    facility_years: float = Field(gt=0)
    facility_source: str = Field(min_length=8)
    financing_rate_frac: float = Field(ge=0, lt=1)
    financing_source: str = Field(min_length=8)
    facility_usd_per_mw: dict[str, float]
    facility_source_by_cooling: str = Field(min_length=8)
    network_usd_per_gpu: dict[NetworkClass, float]
    network_source: str = Field(min_length=8)
    storage_usd_per_gpu: float = Field(ge=0)
    storage_source: str = Field(min_length=8)
    maintenance_frac_per_year: float = Field(ge=0, lt=1)
    maintenance_source: str = Field(min_length=8)
    staff_gpus_per_fte: float = Field(gt=0)
    staff_usd_per_fte_year: float = Field(ge=0)
    staff_source: str = Field(min_length=8)
    electricity_usd_per_mwh: float = Field(ge=0)
    electricity_source: str = Field(min_length=8)
    pue: float = Field(ge=1.0)
    pue_source: str = Field(min_length=8)
    edge: EdgeCosts


@functools.cache
def tco_table() -> TcoTable:
    """``energy/data/tco.yaml``, validated (errors name the file, line and field)."""
    return load_validated(DATA_DIR / "tco.yaml", TcoTable)


def capital_recovery_factor(rate_frac: float, years: float) -> float:
    """Yearly payment per unit of capital repaid over ``years`` at ``rate_frac``."""
    check_number(years, "depreciation_years", 0, low_open=True)
    check_number(rate_frac, "financing_rate_frac", 0)
    if rate_frac == 0:
        return 1.0 / years
    return float(rate_frac / (1.0 - (1.0 + rate_frac) ** -years))


@dataclass(frozen=True, slots=True)
class OwnedAssumptions:
    """Choices of an owned fleet; ``None`` takes the default of ``tco.yaml`` (``cooling``:
    the system's own, :func:`system_cooling`)."""

    cooling: str | None = None
    network: NetworkClass = "infiniband"
    activity_frac: float = 0.6
    financing_rate_frac: float | None = None
    depreciation_years: float | None = None
    electricity_usd_per_mwh: float | None = None
    pue: float | None = None


@dataclass(frozen=True, slots=True)
class OwnedCost:
    """Cost of one owned GPU per year, by item (USD), and what it was computed from."""

    accelerator: str
    usd_per_year: dict[str, float]
    capex_usd: dict[str, float]
    it_power_w: float
    peak_it_power_w: float
    assumptions: dict[str, float | str] = field(default_factory=dict)

    @property
    def total_usd_per_year(self) -> float:
        return sum(self.usd_per_year.values())

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.total_usd_per_year / HOURS_PER_YEAR

    def to_dict(self) -> dict[str, object]:
        return {"accelerator": self.accelerator, "usd_per_gpu_hour": self.usd_per_gpu_hour,
                "usd_per_gpu_year": self.total_usd_per_year,
                "usd_per_gpu_year_by_item": dict(self.usd_per_year),
                "capex_usd_per_gpu": dict(self.capex_usd), "it_power_w": self.it_power_w,
                "peak_it_power_w": self.peak_it_power_w,
                "facility_usd_per_mw": self.facility_usd_per_mw,
                "assumptions": dict(self.assumptions)}

    @property
    def facility_usd_per_mw(self) -> float:
        """Facility capex per MW of the GPU's peak (critical) IT power."""
        return self.capex_usd["facility"] / (self.peak_it_power_w / 1e6)


def server_capex_usd(accelerator: str) -> float:
    """Server capex per GPU (GPU + host share) from the price book."""
    book = default_tables().price_book
    entry = book.accelerators.get(accelerator)
    if entry is None:
        raise InputError(f"no price book entry (capex) for {accelerator}", where="--gpu")
    return entry.capex_usd_per_gpu


def _it_power_per_gpu_w(acc: Accelerator, system: System, activity: float) -> float:
    n = system.num_accelerators
    return job_power(acc, system, num_gpus=n, num_nodes=1, activity_frac=activity).it_power_w / n


def system_cooling(system: System) -> str:
    """The facility cooling a system needs: ``liquid`` for a liquid-cooled system (a GB200
    NVL72 rack cannot stand in an air-cooled hall), else ``air`` -- the default of a run's
    site (``SiteConfig.cooling_for``) and of an owned fleet's facility."""
    return "liquid" if system.cooling == "liquid" else "air"


def owned_cost(acc: Accelerator, system: System,
               assumptions: OwnedAssumptions | None = None) -> OwnedCost:
    """Yearly cost of one owned ``acc`` in ``system`` (see the module docstring).

    Raises :class:`UnknownNameError` for an unknown cooling type, :class:`InputError` for
    out-of-range assumptions or a part without a capex entry.
    """
    a = assumptions or OwnedAssumptions()
    t = tco_table()
    cooling = system_cooling(system) if a.cooling is None else a.cooling  # "" is unknown
    if cooling not in t.facility_usd_per_mw:
        raise UnknownNameError("cooling type", cooling, list(t.facility_usd_per_mw),
                               where="--cooling")
    check_number(a.activity_frac, "activity_frac", 0.0, 1.0)
    rate = t.financing_rate_frac if a.financing_rate_frac is None else a.financing_rate_frac
    years = t.depreciation_years if a.depreciation_years is None else a.depreciation_years
    price = (t.electricity_usd_per_mwh if a.electricity_usd_per_mwh is None
             else a.electricity_usd_per_mwh)
    edge = t.edge if system.deployment == "edge" else None
    pue = (edge.pue if edge else t.pue) if a.pue is None else a.pue
    check_number(pue, "pue", 1.0)
    check_number(price, "electricity_usd_per_mwh", 0.0)
    mean_w = _it_power_per_gpu_w(acc, system, a.activity_frac)
    peak_w = _it_power_per_gpu_w(acc, system, 1.0)
    capex = {"server": server_capex_usd(acc.name)}
    if edge:  # a module at an edge site: its port, disk and enclosure, no data-centre build
        capex |= {"network": edge.network_usd_per_gpu, "storage": edge.storage_usd_per_gpu}
        facility, gpus_per_fte = edge.facility_usd_per_gpu, edge.staff_gpus_per_fte
    else:
        capex |= {"network": t.network_usd_per_gpu[a.network], "storage": t.storage_usd_per_gpu}
        facility = t.facility_usd_per_mw[cooling] * peak_w / 1e6
        gpus_per_fte = t.staff_gpus_per_fte
    hardware = sum(capex.values())
    capex["facility"] = facility
    per_year = {
        "hardware_capital": hardware * capital_recovery_factor(rate, years),
        "facility_capital": facility * capital_recovery_factor(rate, t.facility_years),
        "maintenance": hardware * t.maintenance_frac_per_year,
        "staff": t.staff_usd_per_fte_year / gpus_per_fte,
        "power": mean_w * pue * HOURS_PER_YEAR / 1e6 * price,
    }
    used: dict[str, float | str] = {
        "deployment": system.deployment,
        "cooling": cooling, "network": "edge" if edge else a.network,
        "activity_frac": a.activity_frac,
        "financing_rate_frac": rate, "depreciation_years": years,
        "facility_years": t.facility_years, "electricity_usd_per_mwh": price, "pue": pue}
    return OwnedCost(acc.name, per_year, capex, mean_w, peak_w, used)


@dataclass(frozen=True, slots=True)
class OwnedRate:
    """One owned GPU-hour of wall clock under :func:`owned_rate` (USD per GPU-hour)."""

    fixed_usd_per_gpu_hour: float  # capital, facility, maintenance, staff: busy or idle
    power_usd_per_gpu_hour: float  # the power item at the assumptions' mean activity
    basis: str  # one line: what the fixed part is built from

    @property
    def usd_per_gpu_hour(self) -> float:
        """Fixed part plus power: the rate of a cost with no energy ledger beside it."""
        return self.fixed_usd_per_gpu_hour + self.power_usd_per_gpu_hour


def owned_rate(acc: Accelerator, system: System,
               assumptions: OwnedAssumptions | None = None) -> OwnedRate:
    """The one owned-cost rule (module docstring): :func:`owned_cost` per wall-clock hour,
    split into the fixed part (what an energy ledger adds its energy bill to) and power."""
    cost = owned_cost(acc, system, assumptions)
    a = cost.assumptions
    power_h = cost.usd_per_year["power"] / HOURS_PER_YEAR
    fixed_h = cost.usd_per_gpu_hour - power_h
    basis = (f"capex ${cost.capex_usd['server']:,.0f}/GPU + {a['network']} network, storage, "
             f"{a['cooling']} facility, maintenance, staff over {a['depreciation_years']:g} y "
             f"at {a['financing_rate_frac']:.0%} = ${fixed_h:.2f}/GPU-h held")
    return OwnedRate(fixed_h, power_h, basis)


def owned_power_usd_per_gpu_hour(acc: Accelerator, system: System,
                                 activity_frac: float = 1.0) -> tuple[float, str]:
    """The power bill of one owned ``acc`` per hour it runs at ``activity_frac``: IT power
    (accelerator + host share) x PUE x electricity price of ``tco.yaml`` -- the ``power``
    item of :func:`owned_cost` per hour. For a cost priced at the owned rate of
    :func:`gputwin.energy.accounting.allocation_rates` ("energy billed apart") outside the
    energy ledger. Returns the USD per GPU-hour and a one-line basis."""
    cost = owned_cost(acc, system, OwnedAssumptions(activity_frac=activity_frac))
    a = cost.assumptions
    usd_h = cost.usd_per_year["power"] / HOURS_PER_YEAR
    return usd_h, (f"power {cost.it_power_w:,.0f} W x PUE {a['pue']:g} at "
                   f"${a['electricity_usd_per_mwh']:g}/MWh = ${usd_h:.3f}/GPU-h")


class RentalListing(NamedTuple):
    """One price book listing of a part."""

    provider: str
    pricing: str
    usd_per_gpu_hour: float
    as_of: str
    estimated: bool  # no provider publishes it for this part (price book `estimated`)

    @property
    def basis(self) -> str:
        """``price book neocloud/on-demand $2.00/GPU-h (as of 2026-05)`` (+ the estimate
        note)."""
        note = ESTIMATE_NOTE if self.estimated else ""
        return (f"price book {self.provider}/{self.pricing} ${self.usd_per_gpu_hour:.2f}/GPU-h "
                f"(as of {self.as_of}{note})")


def rental_prices(accelerator: str) -> list[RentalListing]:
    """Every price book listing of ``accelerator`` (none when the book lacks it)."""
    entry = default_tables().price_book.accelerators.get(accelerator)
    if entry is None:
        return []
    return [RentalListing(prov, pricing, usd, entry.as_of, entry.is_estimated(prov, pricing))
            for prov, by_pricing in entry.usd_per_gpu_hour.items()
            for pricing, usd in by_pricing.items()]


def owned_fixed_usd_per_gpu_hour(accelerator: str, tdp_w: float,
                                 network: NetworkClass = TRAINING_NETWORK,
                                 cooling: str | None = None) -> tuple[float, str]:
    """The fixed part of :func:`owned_rate` (no power: the energy ledger bills it) for
    ``accelerator`` in the catalog's default system for the part, at the defaults of
    ``tco.yaml``, ``network`` and ``cooling`` (``None``: the system's own), and a one-line
    basis. A part the catalog lacks is treated as a bare ``tdp_w`` package (no host)."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.topology.hardware import resolve_hardware

    try:
        hw = resolve_hardware(default_catalog(), gpu=accelerator)
    except UnknownNameError:
        return _bare_fixed_usd_per_gpu_hour(accelerator, tdp_w, network,
                                            "air" if cooling is None else cooling)
    rate = owned_rate(hw.accelerator, hw.system,
                      OwnedAssumptions(network=network, cooling=cooling))
    return rate.fixed_usd_per_gpu_hour, rate.basis


def _bare_fixed_usd_per_gpu_hour(accelerator: str, tdp_w: float, network: NetworkClass,
                                 cooling: str) -> tuple[float, str]:
    t = tco_table()
    rate, years = t.financing_rate_frac, t.depreciation_years
    server = server_capex_usd(accelerator)
    hardware = server + t.network_usd_per_gpu[network] + t.storage_usd_per_gpu
    if cooling not in t.facility_usd_per_mw:
        raise UnknownNameError("cooling type", cooling, list(t.facility_usd_per_mw),
                               where="--cooling")
    facility = t.facility_usd_per_mw[cooling] * tdp_w / 1e6
    per_year = (hardware * (capital_recovery_factor(rate, years) + t.maintenance_frac_per_year)
                + facility * capital_recovery_factor(rate, t.facility_years)
                + t.staff_usd_per_fte_year / t.staff_gpus_per_fte)
    usd_h = per_year / HOURS_PER_YEAR
    return usd_h, (f"capex ${server:,.0f}/GPU + {network} network, storage, {cooling} facility, "
                   f"maintenance, staff over {years:g} y at {rate:.0%} = ${usd_h:.2f}/GPU-h held")
