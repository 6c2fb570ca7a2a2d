"""Power supply of a site: PPAs, on-site generation and a battery against the grid, hourly.

For each hour of a typical year, with facility load ``L`` (W) and grid carbon/price series
of the region (:class:`~gputwin.energy.grid.RegionGrid`):

1. **on-site firm** generation ``O = min(Σ capacity x capacity factor, L)`` (behind the
   meter; fuel burnt on site is scope-1 carbon);
2. **PPAs** (virtual, settled against the grid) generate ``P = Σ capacity x profile``; the
   part up to the residual ``R = L - O`` is *matched*, the surplus first charges the battery
   (``x round-trip efficiency``), the rest is sold back at the hour's grid price;
3. the **battery** discharges into the unmatched residual (within its power and charge);
4. the **grid** supplies the rest, up to the site's **interconnection limit**; what is
   above it is *unserved* (reported, not hidden).

Carbon (GHG Protocol scope 2 plus on-site scope 1):

- **location-based**: physical grid draw ``R - discharge + charge`` x the hour's grid
  intensity, plus on-site combustion;
- **market-based (hourly)**: only the *unmatched* load ``R - matched - discharge`` x the
  hour's intensity, plus on-site combustion -- the 24/7 carbon-free-energy view;
- **market-based (annual)**: ``max(0, Σ grid draw - Σ PPA)`` x the mean grid intensity
  plus on-site combustion -- the annual REC-matching view.

``cfe_score_frac`` = (clean on-site + matched PPA + battery discharge) / load, hourly
matched, as in 24/7 CFE scorecards (the grid's own clean share is not credited). Cost =
grid energy + PPA energy at contract price - surplus sales + on-site energy at its price +
the battery's yearly fixed cost. Units SI inside: W, J, g, USD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gputwin.energy.grid import HOUR_S, J_PER_KWH, J_PER_MWH, FloatArray, RegionGrid
from gputwin.energy.profiles import HOURS_PER_YEAR
from gputwin.energy.supply_profiles import per_unit_profile
from gputwin.energy.supply_tables import supply_table
from gputwin.errors import InputError


@dataclass(frozen=True, slots=True)
class Generator:
    """A PPA or on-site unit of ``tech`` with ``capacity_w`` nameplate; ``None`` = table."""

    tech: str
    capacity_w: float
    usd_per_mwh: float | None = None
    capacity_factor: float | None = None

    def __post_init__(self) -> None:
        if not self.capacity_w >= 0:
            raise InputError(f"{self.tech}: capacity must be non-negative, got {self.capacity_w}")
        if self.capacity_factor is not None and not 0 < self.capacity_factor <= 1:
            raise InputError(f"{self.tech}: capacity factor must be in (0, 1]")

    def profile_w(self, region: str) -> FloatArray:
        per_unit = per_unit_profile(self.tech, region)
        t = supply_table().tech(self.tech)
        scale = 1.0 if self.capacity_factor is None else self.capacity_factor / t.capacity_factor
        return np.minimum(per_unit * scale, 1.0) * self.capacity_w

    def price(self) -> float:
        return (supply_table().tech(self.tech).usd_per_mwh if self.usd_per_mwh is None
                else self.usd_per_mwh)


@dataclass(frozen=True, slots=True)
class Battery:
    capacity_j: float
    power_w: float
    round_trip_efficiency_frac: float | None = None

    def __post_init__(self) -> None:
        if self.capacity_j < 0 or self.power_w < 0:
            raise InputError("battery capacity and power must be non-negative")
        rte = self.round_trip_efficiency_frac
        if rte is not None and not 0 < rte <= 1:
            raise InputError(f"battery round-trip efficiency must be in (0, 1], got {rte}")

    @property
    def rte(self) -> float:
        return (supply_table().battery.round_trip_efficiency_frac
                if self.round_trip_efficiency_frac is None else self.round_trip_efficiency_frac)


@dataclass(frozen=True, slots=True)
class PowerSupply:
    """What feeds a site besides the grid; ``interconnect_w`` caps the grid draw."""

    ppas: tuple[Generator, ...] = ()
    onsite: tuple[Generator, ...] = ()
    battery: Battery | None = None
    interconnect_w: float | None = None

    def __post_init__(self) -> None:
        for g in self.onsite:
            if supply_table().tech(g.tech).kind != "firm":
                raise InputError(f"on-site {g.tech} is not firm generation; contract it as a "
                                 "PPA instead")
        if self.interconnect_w is not None and self.interconnect_w < 0:
            raise InputError("interconnection limit must be non-negative")


@dataclass(slots=True)
class SupplyAccount:
    """Yearly totals (J, g CO2e, USD) of a site's supply, plus hourly series."""

    totals: dict[str, float]
    hourly: dict[str, FloatArray] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.totals)


def _battery(surplus_j: FloatArray, deficit_j: FloatArray, bat: Battery | None
             ) -> tuple[FloatArray, FloatArray]:
    """Greedy dispatch: charge from PPA surplus, discharge into unmatched load. Returns the
    energy drawn to charge and the energy delivered, per hour (J)."""
    charge = np.zeros_like(surplus_j)
    dis = np.zeros_like(deficit_j)
    if bat is None or bat.capacity_j <= 0 or bat.power_w <= 0:
        return charge, dis
    step_j, rte, soc = bat.power_w * HOUR_S, bat.rte, 0.0
    for h in range(surplus_j.size):
        if surplus_j[h] > 0:
            c = min(surplus_j[h], step_j, (bat.capacity_j - soc) / rte)
            charge[h], soc = c, soc + c * rte
        elif deficit_j[h] > 0:
            d = min(deficit_j[h], step_j, soc)
            dis[h], soc = d, soc - d
    return charge, dis


def _hourly_load(load_w: FloatArray | float) -> FloatArray:
    load = np.broadcast_to(np.asarray(load_w, dtype=np.float64), (HOURS_PER_YEAR,)).copy()
    if not np.all(np.isfinite(load)) or np.any(load < 0):
        raise InputError("site load must be finite and non-negative")
    return load


def supply_account(load_w: FloatArray | float, grid: RegionGrid, supply: PowerSupply
                   ) -> SupplyAccount:
    """One typical year of the site (module docstring). ``load_w``: facility power, a
    constant or 8760 hourly values aligned with ``grid``'s series."""
    region, tab = grid.region, supply_table()
    load_j = _hourly_load(load_w) * HOUR_S
    ci = grid.carbon_g_per_j.values[:HOURS_PER_YEAR]
    price = grid.price_usd_per_j.values[:HOURS_PER_YEAR]
    firm_j = sum((g.profile_w(region) * HOUR_S for g in supply.onsite),
                 np.zeros(HOURS_PER_YEAR))
    onsite_j = np.minimum(firm_j, load_j)
    share = onsite_j / np.where(firm_j > 0, firm_j, 1.0)  # dispatched share of on-site output
    residual = load_j - onsite_j
    ppa_j = sum((g.profile_w(region) * HOUR_S for g in supply.ppas), np.zeros(HOURS_PER_YEAR))
    matched = np.minimum(ppa_j, residual)
    charge, dis = _battery(ppa_j - matched, residual - matched, supply.battery)
    draw = residual - dis + charge
    cap_j = np.inf if supply.interconnect_w is None else supply.interconnect_w * HOUR_S
    unserved = np.maximum(draw - cap_j, 0.0)
    draw = draw - unserved
    scope1 = sum((g.profile_w(region) * HOUR_S * share * tab.tech(g.tech).direct_g_per_kwh
                  / J_PER_KWH for g in supply.onsite), np.zeros(HOURS_PER_YEAR))
    clean_onsite = sum((g.profile_w(region) * HOUR_S * share for g in supply.onsite
                        if tab.tech(g.tech).direct_g_per_kwh == 0), np.zeros(HOURS_PER_YEAR))
    unmatched = np.maximum(residual - matched - dis - unserved, 0.0)
    sold = ppa_j - matched - charge
    t = {
        "load_j": float(load_j.sum()), "onsite_j": float(onsite_j.sum()),
        "ppa_j": float(ppa_j.sum()), "ppa_matched_j": float(matched.sum()),
        "ppa_sold_j": float(sold.sum()), "battery_charge_j": float(charge.sum()),
        "battery_discharge_j": float(dis.sum()), "grid_import_j": float(draw.sum()),
        "unserved_j": float(unserved.sum()),
        "hours_at_interconnect_limit": float(np.count_nonzero(unserved > 0)),
        "cfe_score_frac": float((clean_onsite + matched + dis).sum() / load_j.sum())
        if load_j.sum() > 0 else 0.0,
        "annual_match_frac": float(min(1.0, (ppa_j.sum() + clean_onsite.sum())
                                       / load_j.sum())) if load_j.sum() > 0 else 0.0,
        "co2e_onsite_g": float(scope1.sum()),
        "co2e_location_g": float((draw * ci).sum() + scope1.sum()),
        "co2e_market_hourly_g": float((unmatched * ci).sum() + scope1.sum()),
        "co2e_market_annual_g": float(max(0.0, draw.sum() - ppa_j.sum()) * ci.mean()
                                      + scope1.sum()),
    }
    t.update(_costs(supply, region, draw, price, ppa_j, sold, share))
    return SupplyAccount(t, {"load_j": load_j, "grid_import_j": draw, "ppa_j": ppa_j,
                             "battery_discharge_j": dis, "onsite_j": onsite_j})


def _costs(supply: PowerSupply, region: str, draw: FloatArray, price: FloatArray,
           ppa_j: FloatArray, sold: FloatArray, share: FloatArray) -> dict[str, float]:
    ppa_usd = sum(float((g.profile_w(region) * HOUR_S).sum()) / J_PER_MWH * g.price()
                  for g in supply.ppas)
    onsite_usd = sum(float((g.profile_w(region) * HOUR_S * share).sum()) / J_PER_MWH
                     * g.price() for g in supply.onsite)
    bat = supply.battery
    battery_usd = (bat.capacity_j / J_PER_KWH * supply_table().battery.usd_per_kwh_year
                   if bat is not None else 0.0)
    grid_usd = float((draw * price).sum())
    sold_usd = float((sold * price).sum())
    return {"cost_grid_usd": grid_usd, "cost_ppa_usd": ppa_usd,
            "revenue_ppa_surplus_usd": sold_usd, "cost_onsite_usd": onsite_usd,
            "cost_battery_usd": battery_usd,
            "cost_total_usd": grid_usd + ppa_usd - sold_usd + onsite_usd + battery_usd}
