"""Power supply of a site: PPAs, on-site generation and a battery against the grid, hourly.

For each hour of a typical year, with facility load ``L`` (W) and grid carbon/price series
of the region (:class:`~gputwin.energy.grid.RegionGrid`):

1. **on-site firm** generation ``O = min(Σ capacity x capacity factor, L)`` (behind the
   meter; fuel burnt on site is scope-1 carbon);
2. **PPAs** (virtual, settled against the grid) generate ``P = Σ capacity x profile``; the
   part up to the residual ``R = L - O`` is *matched*, the surplus first charges the battery
   (``x round-trip efficiency``), the rest is sold back at the hour's grid price;
3. the **battery** discharges into the unmatched residual (within its power and charge),
   or, with ``policy="peak-shave"``, charges from the grid's headroom too and discharges
   only what the grid cannot deliver (:data:`BATTERY_POLICIES`);
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
matched, as in 24/7 CFE scorecards (the grid's own clean share is not credited);
``cfe_score_with_grid_frac`` also credits the grid's carbon-free share of the load the grid
serves directly, hour by hour (Google's CFE% method; the share from the hour's carbon
intensity, :func:`~gputwin.energy.supply_profiles.grid_clean_share`; battery energy charged
from the grid gets no credit). Cost =
grid energy (the physical draw at the hour's price) + PPA energy at contract price - the
PPA energy's value at the hour's grid price (a virtual PPA settles its whole output against
the market, so each PPA MWh costs strike minus market, matched or not) + on-site energy at
its price + the battery's yearly fixed cost. :func:`supply_account` covers a typical year;
:func:`supply_window` any run of hours (what simulations feed in). Units SI inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gputwin.energy.grid import HOUR_S, J_PER_KWH, J_PER_MWH, FloatArray, RegionGrid
from gputwin.energy.profiles import HOURS_PER_YEAR
from gputwin.energy.supply_profiles import grid_clean_share, per_unit_profile
from gputwin.energy.supply_tables import supply_table
from gputwin.errors import InputError, check_number


@dataclass(frozen=True, slots=True)
class Generator:
    """A PPA or on-site unit of ``tech`` with ``capacity_w`` nameplate; ``None`` = table."""

    tech: str
    capacity_w: float
    usd_per_mwh: float | None = None
    capacity_factor: float | None = None

    def __post_init__(self) -> None:
        check_number(self.capacity_w, f"{self.tech}.capacity_w", 0)
        if self.usd_per_mwh is not None:
            check_number(self.usd_per_mwh, f"{self.tech}.usd_per_mwh", 0)
        if self.capacity_factor is not None:
            check_number(self.capacity_factor, f"{self.tech}.capacity_factor", 0, 1,
                         low_open=True)

    def profile_w(self, region: str) -> FloatArray:
        per_unit = per_unit_profile(self.tech, region)
        base = supply_table().capacity_factor(self.tech, region)
        scale = 1.0 if self.capacity_factor is None else self.capacity_factor / base
        return np.minimum(per_unit * scale, 1.0) * self.capacity_w

    def capacity_factor_used(self, region: str) -> dict[str, Any]:
        """The capacity factor this unit runs at in ``region`` and where it comes from."""
        table = supply_table()
        if self.capacity_factor is not None:
            return {"tech": self.tech, "capacity_factor": self.capacity_factor,
                    "basis": "given for this contract"}
        return {"tech": self.tech, "capacity_factor": table.capacity_factor(self.tech, region),
                "basis": table.capacity_factor_basis(self.tech, region)}

    def price(self) -> float:
        return (supply_table().tech(self.tech).usd_per_mwh if self.usd_per_mwh is None
                else self.usd_per_mwh)


#: Battery dispatch policies: ``cfe`` charges from PPA surplus and discharges into any
#: unmatched load (maximises the 24/7 CFE score); ``peak-shave`` also charges from the grid
#: below the interconnection limit and discharges only what the grid cannot deliver.
BATTERY_POLICIES = ("cfe", "peak-shave")


@dataclass(frozen=True, slots=True)
class Battery:
    capacity_j: float
    power_w: float
    round_trip_efficiency_frac: float | None = None
    policy: str = "cfe"

    def __post_init__(self) -> None:
        check_number(self.capacity_j, "battery capacity_j", 0)
        check_number(self.power_w, "battery power_w", 0)
        rte = self.round_trip_efficiency_frac
        if rte is not None:
            check_number(rte, "battery round_trip_efficiency_frac", 0, 1, low_open=True)
        if self.policy not in BATTERY_POLICIES:
            raise InputError(f"battery policy {self.policy!r}: expected one of "
                             f"{', '.join(BATTERY_POLICIES)}")

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

    def capacity_factors(self, region: str) -> list[dict[str, Any]]:
        """What each PPA and on-site unit runs at in ``region`` (summaries)."""
        return ([{"contract": "ppa", **g.capacity_factor_used(region)} for g in self.ppas]
                + [{"contract": "onsite", **g.capacity_factor_used(region)}
                   for g in self.onsite])

    def __post_init__(self) -> None:
        for g in self.onsite:
            if supply_table().tech(g.tech).kind != "firm":
                raise InputError(f"on-site {g.tech} is not firm generation; contract it as a "
                                 "PPA instead")
        if self.interconnect_w is not None:
            check_number(self.interconnect_w, "interconnect_w", 0)


@dataclass(slots=True)
class SupplyAccount:
    """Yearly totals (J, g CO2e, USD) of a site's supply, plus hourly series."""

    totals: dict[str, float]
    hourly: dict[str, FloatArray] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.totals)


@dataclass(slots=True)
class _Dispatch:
    """Hourly battery flows (J): charged from PPA surplus / from the grid, delivered, and
    the clean (PPA-charged) part of what was delivered."""

    charge_clean: FloatArray
    charge_grid: FloatArray
    discharge: FloatArray
    discharge_clean: FloatArray


def _battery(surplus_j: FloatArray, deficit_j: FloatArray, residual_j: FloatArray,
             cap_j: float, bat: Battery | None) -> _Dispatch:
    """Dispatch the battery hour by hour under its policy (:data:`BATTERY_POLICIES`).
    Charging never pushes the grid draw over ``cap_j``; the stored energy keeps track of
    its clean share so that grid-charged energy is not counted as carbon-free."""
    z = np.zeros_like(surplus_j)
    d = _Dispatch(z.copy(), z.copy(), z.copy(), z.copy())
    if bat is None or bat.capacity_j <= 0 or bat.power_w <= 0:
        return d
    step_j, rte, soc, clean = bat.power_w * HOUR_S, bat.rte, 0.0, 0.0
    shave = bat.policy == "peak-shave"
    for h in range(surplus_j.size):
        need = max(residual_j[h] - cap_j, 0.0) if shave else deficit_j[h]
        if need > 0 and soc > 0:
            out = min(need, step_j, soc)
            d.discharge[h] = out
            d.discharge_clean[h] = out * clean / soc
            clean -= d.discharge_clean[h]
            soc -= out
            continue
        room = max(cap_j - residual_j[h], 0.0)
        c = min(surplus_j[h], step_j, (bat.capacity_j - soc) / rte, room)
        g = min(step_j - c, (bat.capacity_j - soc) / rte - c, room - c) if shave else 0.0
        d.charge_clean[h], d.charge_grid[h] = c, max(g, 0.0)
        soc += (c + d.charge_grid[h]) * rte
        clean += c * rte
    return d


def _hourly_load(load_w: FloatArray | float, hours: int = HOURS_PER_YEAR) -> FloatArray:
    load = np.broadcast_to(np.asarray(load_w, dtype=np.float64), (hours,)).copy()
    if not np.all(np.isfinite(load)) or np.any(load < 0):
        raise InputError("site load must be finite and non-negative")
    return load


def _window(values: FloatArray, start_hour: int, hours: int) -> FloatArray:
    """``hours`` consecutive hourly values from ``start_hour``, wrapping round the year."""
    return np.take(values, (start_hour + np.arange(hours)) % values.size)


def supply_account(load_w: FloatArray | float, grid: RegionGrid, supply: PowerSupply
                   ) -> SupplyAccount:
    """One typical year of the site (module docstring). ``load_w``: facility power, a
    constant or 8760 hourly values aligned with ``grid``'s series."""
    return supply_window(_hourly_load(load_w) * HOUR_S, grid, supply, start_hour=0)


def supply_window(load_j: FloatArray, grid: RegionGrid, supply: PowerSupply, *,
                  start_hour: int) -> SupplyAccount:
    """The supply of ``load_j`` (facility energy per hour, J) over ``load_j.size`` hours
    from hour ``start_hour`` of the grid's year (wrapping): what a simulation run feeds in.
    Yearly fixed costs (the battery) are charged pro rata."""
    load_j = np.asarray(load_j, dtype=np.float64)
    if not np.all(np.isfinite(load_j)) or np.any(load_j < 0):
        raise InputError("site load must be finite and non-negative")
    n, region = load_j.size, grid.region
    price = _window(grid.price_usd_per_j.values, start_hour, n)

    def out_j(g: Generator) -> FloatArray:
        return _window(g.profile_w(region), start_hour, n) * HOUR_S

    firm_j = sum((out_j(g) for g in supply.onsite), np.zeros(n))
    onsite_j = np.minimum(firm_j, load_j)
    share = onsite_j / np.where(firm_j > 0, firm_j, 1.0)  # dispatched share of on-site output
    residual = load_j - onsite_j
    ppa_j = sum((out_j(g) for g in supply.ppas), np.zeros(n))
    matched = np.minimum(ppa_j, residual)
    cap_j = np.inf if supply.interconnect_w is None else supply.interconnect_w * HOUR_S
    bat = _battery(ppa_j - matched, residual - matched, residual, cap_j, supply.battery)
    charge = bat.charge_clean + bat.charge_grid
    unserved = np.maximum(residual - bat.discharge - cap_j, 0.0)
    draw = residual - bat.discharge + charge - unserved
    sold = ppa_j - matched - bat.charge_clean
    f = _Flows(load_j, [out_j(g) * share for g in supply.onsite], ppa_j, matched, bat, draw,
               np.maximum(residual - unserved - matched - bat.discharge, 0.0))
    t = {
        "hours": float(n), "load_j": float(load_j.sum()), "onsite_j": float(onsite_j.sum()),
        "ppa_j": float(ppa_j.sum()), "ppa_matched_j": float(matched.sum()),
        "ppa_sold_j": float(sold.sum()), "battery_charge_j": float(charge.sum()),
        "battery_charge_grid_j": float(bat.charge_grid.sum()),
        "battery_discharge_j": float(bat.discharge.sum()), "grid_import_j": float(draw.sum()),
        "unserved_j": float(unserved.sum()),
        "hours_at_interconnect_limit": float(np.count_nonzero(unserved > 0)),
        **_carbon_totals(f, supply, grid, start_hour),
    }
    t.update(_costs(supply, [out_j(g) for g in supply.ppas], f.onsite_out, draw, price, n))
    return SupplyAccount(t, {"load_j": load_j, "grid_import_j": draw, "ppa_j": ppa_j,
                             "battery_discharge_j": bat.discharge, "onsite_j": onsite_j,
                             "unserved_j": unserved})


@dataclass(slots=True)
class _Flows:
    """Hourly energy flows (J) of a window that the carbon and CFE totals need."""

    load: FloatArray
    onsite_out: list[FloatArray]  # each on-site unit's dispatched output
    ppa: FloatArray
    matched: FloatArray
    bat: _Dispatch
    draw: FloatArray  # physical grid import, battery charging included
    grid_served: FloatArray  # load the grid supplies directly (not PPA, battery, on-site)


def _carbon_totals(f: _Flows, supply: PowerSupply, grid: RegionGrid, start_hour: int
                   ) -> dict[str, float]:
    """Scope 1 + location- and market-based scope 2 carbon (module docstring), the 24/7
    CFE score without and with the grid's own carbon-free share."""
    n, tab = f.load.size, supply_table()
    ci = _window(grid.carbon_g_per_j.values, start_hour, n)
    grid_share = _window(grid_clean_share(grid.region, grid.carbon_g_per_j.values),
                         start_hour, n)
    scope1 = sum((o * tab.tech(g.tech).direct_g_per_kwh / J_PER_KWH
                  for g, o in zip(supply.onsite, f.onsite_out, strict=True)), np.zeros(n))
    clean_onsite = sum((o for g, o in zip(supply.onsite, f.onsite_out, strict=True)
                        if tab.tech(g.tech).direct_g_per_kwh == 0), np.zeros(n))
    unmatched = f.grid_served + f.bat.charge_grid
    own_clean = float((clean_onsite + f.matched + f.bat.discharge_clean).sum())
    grid_clean = float((grid_share * f.grid_served).sum())
    total = float(f.load.sum())
    return {
        "cfe_score_frac": own_clean / total if total > 0 else 0.0,
        "grid_cfe_j": grid_clean,
        "cfe_score_with_grid_frac": (own_clean + grid_clean) / total if total > 0 else 0.0,
        "annual_match_frac": float(min(1.0, (f.ppa.sum() + clean_onsite.sum()) / total))
        if total > 0 else 0.0,
        "co2e_onsite_g": float(scope1.sum()),
        "co2e_location_g": float((f.draw * ci).sum() + scope1.sum()),
        "co2e_market_hourly_g": float((unmatched * ci).sum() + scope1.sum()),
        "co2e_market_annual_g": float(max(0.0, f.draw.sum() - f.ppa.sum()) * ci.mean()
                                      + scope1.sum()),
    }


def _costs(supply: PowerSupply, ppa_out: list[FloatArray], onsite_out: list[FloatArray],
           draw: FloatArray, price: FloatArray, hours: int) -> dict[str, float]:
    ppa_usd = sum(float(o.sum()) / J_PER_MWH * g.price() for g, o in zip(supply.ppas, ppa_out,
                                                                       strict=True))
    onsite_usd = sum(float(o.sum()) / J_PER_MWH * g.price()
                     for g, o in zip(supply.onsite, onsite_out, strict=True))
    bat = supply.battery
    battery_usd = (bat.capacity_j / J_PER_KWH * supply_table().battery.usd_per_kwh_year
                   * hours / HOURS_PER_YEAR if bat is not None else 0.0)
    grid_usd = float((draw * price).sum())
    settled_usd = sum(float((o * price).sum()) for o in ppa_out)
    return {"cost_grid_usd": grid_usd, "cost_ppa_usd": ppa_usd,
            "revenue_ppa_settlement_usd": settled_usd, "cost_onsite_usd": onsite_usd,
            "cost_battery_usd": battery_usd,
            "cost_total_usd": grid_usd + ppa_usd - settled_usd + onsite_usd + battery_usd}
