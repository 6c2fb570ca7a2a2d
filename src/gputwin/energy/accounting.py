"""Energy, carbon, water and cost accounting: the ledger the simulator and estimates feed.

For an interval ``[t0, t1]`` at constant IT power ``P`` (W) on a site (region + facility):

- IT energy ``P·Δt``; facility energy ``P·∫PUE(t)dt`` (>= IT energy);
- operational carbon, location-based: ``P·∫PUE(t)·CI(t)dt`` (direct intensity; the
  life-cycle (LCA) figure is kept alongside);
- water: on site ``P·∫WUE(t)dt`` plus, optionally, upstream ``facility energy × grid water``;
- energy cost ``P·∫PUE(t)·price(t)dt``;
- per GPU-second recorded: embodied carbon (manufacturing amortised over the lifetime,
  :func:`embodied_g_per_gpu_s`, on the basis the caller states) and compute cost (rental
  price book, or the owned hardware's total cost of ownership less its power,
  :mod:`gputwin.energy.tco`).

**The one embodied-carbon rule** (:func:`embodied_g_per_gpu_s`): a GPU's manufacturing
carbon (``embodied.yaml``: accelerator + host share) is spread over its lifetime, on one of
two bases, and every path that charges embodied carbon names the one it uses:

- ``wall-clock``: kg / (lifetime seconds). For an account that charges *every* second of
  the hardware it models, held or not: a cluster run charges its free slots to the idle
  account, so over a lifetime its slots are charged exactly the GPU's kg;
- ``allocated``: kg / (lifetime seconds x ``utilisation_frac``, 85 %). For an account that
  charges only the seconds a job holds the GPUs (a one-job estimate, a serving run's
  replica lives, rented GPUs): the unallocated share of the GPU's life is nobody's there,
  so it is spread over the allocated seconds.

Using the allocated rate where the idle seconds are charged too counts the idle share
twice (1/0.85: 17.6 % too much), as the owned-cost rule found for capex
(:func:`gputwin.energy.tco.owned_rate`).

Every integral is O(1) (prefix sums of hourly products, see :mod:`gputwin.energy.grid`).
Invariants (tested): nothing is negative; facility >= IT energy; the totals equal the sum
of the per-job records plus the idle record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from gputwin.energy.facility import Facility
from gputwin.energy.grid import GridSeries, RegionGrid
from gputwin.energy.tables import ESTIMATE_NOTE, Pricing, Provider, default_tables
from gputwin.errors import InputError, UnknownNameError, check_number

if TYPE_CHECKING:
    from gputwin.energy.tco import NetworkClass

HOURS_PER_YEAR = 8760.0
HOUR_S = 3600.0
IDLE = "(idle)"

#: how a path spreads a GPU's manufacturing carbon over its lifetime (module docstring)
EmbodiedBasis = Literal["wall-clock", "allocated"]


@dataclass(frozen=True, slots=True, eq=False)
class Site:
    """One region's grid in one facility, with the hourly products precomputed."""

    name: str
    grid: RegionGrid
    facility: Facility
    include_grid_water: bool = False
    pue: GridSeries = field(init=False)
    pue_carbon: GridSeries = field(init=False)
    pue_carbon_lca: GridSeries = field(init=False)
    pue_price: GridSeries = field(init=False)
    wue: GridSeries = field(init=False)

    def __post_init__(self) -> None:
        g, f = self.grid, self.facility
        n = min(g.carbon_g_per_j.values.size, f.pue_series.values.size)

        def cut(s: GridSeries) -> GridSeries:
            return GridSeries(s.values[:n], s.step_s, g.carbon_g_per_j.offset_s, s.name, s.unit)

        pue = cut(f.pue_series)
        object.__setattr__(self, "pue", pue)
        object.__setattr__(self, "pue_carbon", pue.product(cut(g.carbon_g_per_j)))
        object.__setattr__(self, "pue_carbon_lca", pue.product(cut(g.carbon_lca_g_per_j)))
        object.__setattr__(self, "pue_price", pue.product(cut(g.price_usd_per_j)))
        object.__setattr__(self, "wue", cut(f.wue_l_per_j))


@dataclass(frozen=True, slots=True)
class AllocationRates:
    """Per GPU-second recorded: embodied carbon (g, on ``embodied_basis``) and compute
    cost (USD)."""

    embodied_g_per_gpu_s: float
    compute_usd_per_gpu_s: float
    cost_basis: str  # "rental: neocloud/on-demand (as of ...)" or "owned: capex ..."
    energy_in_price: bool  # True for rentals: the price already pays for the energy
    price_estimated: bool = False  # the rental figure is an estimate (price_book `estimated`)
    embodied_basis: EmbodiedBasis = "allocated"


def embodied_kg_per_gpu(accelerator: str, tdp_w: float) -> tuple[float, str]:
    """Manufacturing carbon (accelerator + host share) in kg and where it comes from."""
    table = default_tables().embodied
    entry = table.accelerators.get(accelerator)
    if entry is not None:
        return entry.accelerator_kg + entry.host_share_kg, entry.source
    a100 = table.accelerators.get("a100-sxm-80gb")
    host = a100.host_share_kg if a100 else 0.0
    return tdp_w * table.per_tdp_kg_per_w + host, table.per_tdp_source


def _embodied_seconds(basis: EmbodiedBasis) -> float:
    """The seconds of a GPU's life its manufacturing carbon is spread over on ``basis``."""
    emb = default_tables().embodied
    life_s = emb.lifetime_years * HOURS_PER_YEAR * HOUR_S
    if basis == "wall-clock":
        return life_s
    if basis == "allocated":
        return life_s * emb.utilisation_frac
    raise UnknownNameError("embodied basis", str(basis), list(get_args(EmbodiedBasis)))


def embodied_g_per_gpu_s(accelerator: str, tdp_w: float, basis: EmbodiedBasis) -> float:
    """The one embodied-carbon rule (module docstring): :func:`embodied_kg_per_gpu` in g
    per GPU-second, over the lifetime of ``embodied.yaml`` of wall clock (``wall-clock``:
    the account charges idle seconds too) or its allocated share (``allocated``: only held
    seconds are charged). Raises :class:`UnknownNameError` for another basis."""
    kg, _ = embodied_kg_per_gpu(accelerator, tdp_w)
    return kg * 1e3 / _embodied_seconds(basis)


def embodied_basis_note(basis: EmbodiedBasis) -> str:
    """One line for outputs: how embodied carbon was spread (``basis`` of
    :func:`embodied_g_per_gpu_s`), e.g. ``allocated: lifetime 6 y at 85 % allocated,
    per GPU-second held``."""
    emb = default_tables().embodied
    if basis == "wall-clock":
        return (f"wall-clock: lifetime {emb.lifetime_years:g} y of wall clock, per GPU-second "
                "held or idle (idle GPU time charged apart)")
    _embodied_seconds(basis)  # an unknown basis is an error here too
    return (f"allocated: lifetime {emb.lifetime_years:g} y at {emb.utilisation_frac:.0%} "
            "allocated, per GPU-second held (idle GPU time not charged)")


def owned_pricing_problem(provider: str | None, pricing: str | None) -> str | None:
    """Why a ``pricing`` given with ``provider='owned'`` cannot apply (None when it can):
    a pricing (on-demand, reserved, spot) is a rental's; owned hardware is priced by its
    full cost of ownership."""
    if provider == "owned" and pricing is not None:
        return (f"pricing {pricing!r} applies to rented GPUs; owned hardware is priced by its "
                "full cost of ownership (leave the pricing out)")
    return None


def allocation_rates(accelerator: str, tdp_w: float, *, provider: str | None = "neocloud",
                     pricing: str | None = "on-demand",
                     network: NetworkClass = "infiniband",
                     cooling: str | None = None,
                     embodied_basis: EmbodiedBasis = "allocated") -> AllocationRates:
    """Rates for ``accelerator``; ``embodied_basis``: how the embodied carbon is spread
    (:func:`embodied_g_per_gpu_s`; ``allocated`` for a ledger that records only held
    GPU-seconds, ``wall-clock`` where idle GPU-seconds are charged too);
    ``provider='owned'`` charges the owned TCO per GPU-hour held
    (:func:`gputwin.energy.tco.owned_rate`, less power; ``network``: the fleet's fabric,
    :data:`gputwin.energy.tco.SERVING_NETWORK` for serving; ``cooling``: the site's,
    ``None`` for the part's default system's own) instead of renting.
    ``provider``/``pricing`` ``None``: the first listing the price book has for the part,
    neocloud before hyperscaler before marketplace, on-demand before reserved before spot
    (TPUs, Trainium and Inferentia are rented from their cloud only).

    Raises :class:`UnknownNameError` for an unknown provider/pricing, :class:`InputError`
    when the price book lacks the accelerator.
    """
    embodied = embodied_g_per_gpu_s(accelerator, tdp_w, embodied_basis)
    book = default_tables().price_book
    entry = book.accelerators.get(accelerator)
    if entry is None:
        raise InputError(f"no price book entry for {accelerator} (known: "
                         f"{', '.join(sorted(book.accelerators))})", where="--gpu")
    if provider == "owned":
        return _owned_rates(accelerator, tdp_w, embodied, network, cooling, embodied_basis)
    providers: tuple[Provider, ...] = ("hyperscaler", "neocloud", "marketplace")
    if provider is not None and provider not in providers:
        raise UnknownNameError("provider", provider, [*providers, "owned"], where="--provider")
    pricings: tuple[Pricing, ...] = ("on-demand", "reserved", "spot")
    if pricing is not None and pricing not in pricings:
        raise UnknownNameError("pricing", pricing, list(pricings), where="--pricing")
    listings: Mapping[str, Mapping[str, float]] = entry.usd_per_gpu_hour  # type: ignore[assignment]
    asked = "/".join(x for x in (provider, pricing) if x is not None)  # what the caller named
    where = "--pricing" if provider is None else "--provider"
    if provider is None or pricing is None:
        provider, pricing = _first_listing(listings, provider, pricing)
    usd_h = listings.get(provider, {}).get(pricing)
    if usd_h is None:  # e.g. TPUs and Trainium are rented from one hyperscaler only
        offered = [f"{p}/{q}" for p, qs in entry.usd_per_gpu_hour.items() for q in qs]
        raise InputError(f"no {asked or 'rental'} price for {accelerator} in the price book "
                         f"(offered: {', '.join(offered)}, or owned)", where=where)
    estimated = entry.is_estimated(provider, pricing)
    return AllocationRates(embodied, usd_h / 3600.0,
                           f"rental: {provider}/{pricing} ${usd_h:.2f}/GPU-h "
                           f"(as of {entry.as_of}{ESTIMATE_NOTE if estimated else ''})", True,
                           estimated, embodied_basis)


def _first_listing(listings: Mapping[str, Mapping[str, float]], provider: str | None,
                   pricing: str | None) -> tuple[str, str]:
    """The first (provider, pricing) the part is listed at, the given ones held fixed;
    neocloud/on-demand when it has none (the caller then reports what is offered)."""
    for p in ((provider,) if provider else ("neocloud", "hyperscaler", "marketplace")):
        for q in ((pricing,) if pricing else ("on-demand", "reserved", "spot")):
            if q in listings.get(p, {}):
                return p, q
    return provider or "neocloud", pricing or "on-demand"


def _owned_rates(accelerator: str, tdp_w: float, embodied: float,
                 network: NetworkClass, cooling: str | None,
                 embodied_basis: EmbodiedBasis) -> AllocationRates:
    """Owned hardware: the fixed part of the one owned-cost rule (the full TCO of
    :mod:`gputwin.energy.tco` less power, per wall-clock hour held; the ledger bills the
    site's energy itself). No utilisation divisor: a run pays for every second it holds
    the GPUs, idle ones included (a cluster run charges its free slots too)."""
    from gputwin.energy.tco import owned_fixed_usd_per_gpu_hour

    usd_h, basis = owned_fixed_usd_per_gpu_hour(accelerator, tdp_w, network, cooling)
    return AllocationRates(embodied, usd_h / 3600.0, f"owned: {basis}, energy billed apart",
                           False, embodied_basis=embodied_basis)


@dataclass(slots=True)
class Account:
    """Totals of one job (or of idle time). All fields non-negative except costs of
    negative-price hours, which may lower ``energy_cost_usd``."""

    it_energy_j: float = 0.0
    facility_energy_j: float = 0.0
    co2e_operational_g: float = 0.0
    co2e_operational_lca_g: float = 0.0
    co2e_embodied_g: float = 0.0
    water_onsite_l: float = 0.0
    water_grid_l: float = 0.0
    energy_cost_usd: float = 0.0
    compute_cost_usd: float = 0.0
    gpu_seconds: float = 0.0
    busy_seconds: float = 0.0

    def add(self, other: Account) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def pue(self) -> float:
        """Energy-weighted PUE over everything recorded (1.0 when nothing was)."""
        return self.facility_energy_j / self.it_energy_j if self.it_energy_j > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["pue"] = self.pue
        return out


class EnergyLedger:
    """Accumulates intervals of power per job and site; returns per-job and total accounts.

    ``rates`` maps an accelerator name to its :class:`AllocationRates` (embodied carbon and
    compute cost per GPU-second, on the rates' ``embodied_basis``); intervals with
    ``num_gpus == 0`` carry neither.
    """

    __slots__ = ("_idle", "_intervals", "_jobs", "_rates", "_sites", "_total")

    def __init__(self, sites: dict[str, Site] | None = None,
                 rates: dict[str, AllocationRates] | None = None) -> None:
        self._sites: dict[str, Site] = dict(sites or {})
        self._rates: dict[str, AllocationRates] = dict(rates or {})
        self._jobs: dict[str, Account] = {}
        self._idle = Account()
        self._total = Account()
        self._intervals: list[tuple[str, float, float, float]] = []  # site, t0, t1, W

    def add_site(self, site: Site) -> None:
        if site.name in self._sites:
            raise InputError(f"duplicate site {site.name!r}")
        self._sites[site.name] = site

    def set_rates(self, accelerator: str, rates: AllocationRates) -> None:
        self._rates[accelerator] = rates

    def interval(self, site: str, t0_s: float, t1_s: float, power_w: float, *,
                 num_gpus: int = 0, accelerator: str | None = None) -> Account:
        """The account of one interval (not recorded). Raises InputError on bad input."""
        if not t1_s >= t0_s:
            raise InputError(f"interval end {t1_s} s before start {t0_s} s")
        check_number(power_w, "power_w", 0)
        if num_gpus < 0:
            raise InputError(f"num_gpus must be non-negative, got {num_gpus}")
        s = self._sites.get(site)
        if s is None:
            raise UnknownNameError("site", site, list(self._sites))
        dt = t1_s - t0_s
        fac = power_w * s.pue.integral(t0_s, t1_s)
        acc = Account(
            it_energy_j=power_w * dt,
            facility_energy_j=fac,
            co2e_operational_g=power_w * s.pue_carbon.integral(t0_s, t1_s),
            co2e_operational_lca_g=power_w * s.pue_carbon_lca.integral(t0_s, t1_s),
            water_onsite_l=power_w * s.wue.integral(t0_s, t1_s),
            water_grid_l=fac * s.grid.water_l_per_j if s.include_grid_water else 0.0,
            energy_cost_usd=power_w * s.pue_price.integral(t0_s, t1_s),
            gpu_seconds=num_gpus * dt,
            busy_seconds=dt,
        )
        if num_gpus:
            r = self._rates.get(accelerator or "")
            if r is None:
                raise InputError(f"no allocation rates for accelerator {accelerator!r}")
            acc.co2e_embodied_g = num_gpus * dt * r.embodied_g_per_gpu_s
            acc.compute_cost_usd = num_gpus * dt * r.compute_usd_per_gpu_s
        return acc

    def record(self, job_id: str | None, site: str, t0_s: float, t1_s: float, power_w: float,
               *, num_gpus: int = 0, accelerator: str | None = None) -> Account:
        """Add an interval to ``job_id`` (``None`` = idle/unallocated); returns its account."""
        acc = self.interval(site, t0_s, t1_s, power_w, num_gpus=num_gpus,
                            accelerator=accelerator)
        target = self._idle if job_id is None else self._jobs.setdefault(job_id, Account())
        target.add(acc)
        self._total.add(acc)
        if t1_s > t0_s and power_w > 0:
            self._intervals.append((site, t0_s, t1_s, power_w))
        return acc

    def hourly_facility_j(self, site: str, end_s: float) -> npt.NDArray[np.float64]:
        """Facility energy (J) recorded on ``site`` in each hour ``[k h, (k + 1) h)`` of
        simulation time up to ``end_s`` (the last bin may be partial): the load that a
        power supply (:mod:`gputwin.energy.supply`) has to match hour by hour."""
        s = self._sites.get(site)
        if s is None:
            raise UnknownNameError("site", site, list(self._sites))
        n = max(1, math.ceil(end_s / HOUR_S))
        out = np.zeros(n)
        for name, t0, t1, p in self._intervals:
            if name != site:
                continue
            h = max(0, math.floor(t0 / HOUR_S))
            while h < n and h * HOUR_S < t1:
                a, b = max(t0, h * HOUR_S), min(t1, (h + 1) * HOUR_S, end_s)
                if b > a:
                    out[h] += p * s.pue.integral(a, b)
                h += 1
        return out

    @property
    def total(self) -> Account:
        return self._total

    @property
    def idle(self) -> Account:
        return self._idle

    def jobs(self) -> dict[str, Account]:
        return dict(self._jobs)

    def job(self, job_id: str) -> Account:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise UnknownNameError("job", job_id, list(self._jobs)) from None
