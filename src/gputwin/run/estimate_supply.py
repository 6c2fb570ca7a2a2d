"""``gputwin economics supply``: one typical year of a site's power supply, with the
figures published sources report (capacity factors, prices, round-trip efficiency).

:func:`estimate_supply` is what the CLI prints and what ``gputwin validate`` checks
(kind ``supply``): :func:`gputwin.energy.supply.supply_account` over the region's grid,
plus ratios derived from its yearly totals:

- ``ppa_capacity_factor_frac`` / ``onsite_capacity_factor_frac``: energy delivered over
  nameplate x hours (on-site output is capped by the load: give a load above it);
- ``battery_round_trip_frac``: energy the battery delivered over the energy it took in;
- ``ppa_usd_per_mwh`` / ``onsite_usd_per_mwh``: what each contract type cost per MWh;
- ``onsite_co2e_g_per_kwh``: direct (scope-1) carbon per kWh generated on site;
- ``cost_usd_per_mwh``: the site's total supply cost over its load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gputwin.energy.grid import HOUR_S, J_PER_KWH, J_PER_MWH
from gputwin.energy.supply import Battery, Generator, PowerSupply, supply_account
from gputwin.errors import InputError

W_PER_MW = 1e6


def parse_generators(specs: Sequence[str], option: str) -> tuple[Generator, ...]:
    """``TECH:MW[:USD_PER_MWH]`` specs (``--ppa``/``--onsite``) as generators; errors name
    ``option`` and the spec."""
    from gputwin.energy.supply_tables import supply_table

    out = []
    for spec in specs:
        parts = spec.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError(spec)
            tech, mw = parts[0], float(parts[1])
            price = float(parts[2]) if len(parts) > 2 else None
            if not (math.isfinite(mw) and mw >= 0):  # said "capacity_w ... got -5000000.0"
                raise InputError(f"expected a capacity in MW >= 0, got {parts[1]!r}",
                                 where=f"{option} {spec}")
        except ValueError:
            raise InputError(f"expected TECH:MW[:USD_PER_MWH], got {spec!r}",
                             where=option) from None
        try:
            supply_table().tech(tech)  # an unknown one is reported at its flag
            out.append(Generator(tech, mw * W_PER_MW, usd_per_mwh=price))
        except InputError as exc:  # e.g. a negative price: name the flag and the spec
            raise InputError(str(exc), where=f"{option} {spec}") from None
    return tuple(out)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def derived_ratios(totals: dict[str, float], supply: PowerSupply) -> dict[str, float | None]:
    """Capacity factors, prices and efficiencies from a year's ``totals`` (module doc)."""
    hours_s = totals["hours"] * HOUR_S
    ppa_w = sum(g.capacity_w for g in supply.ppas)
    onsite_w = sum(g.capacity_w for g in supply.onsite)
    return {
        "ppa_capacity_factor_frac": _ratio(totals["ppa_j"], ppa_w * hours_s),
        "onsite_capacity_factor_frac": _ratio(totals["onsite_j"], onsite_w * hours_s),
        "battery_round_trip_frac": _ratio(totals["battery_discharge_j"],
                                          totals["battery_charge_j"]),
        "ppa_usd_per_mwh": _ratio(totals["cost_ppa_usd"], totals["ppa_j"] / J_PER_MWH),
        "onsite_usd_per_mwh": _ratio(totals["cost_onsite_usd"],
                                     totals["onsite_j"] / J_PER_MWH),
        "onsite_co2e_g_per_kwh": _ratio(totals["co2e_onsite_g"],
                                        totals["onsite_j"] / J_PER_KWH),
        "cost_usd_per_mwh": _ratio(totals["cost_total_usd"], totals["load_j"] / J_PER_MWH),
    }


def estimate_supply(*, load_mw: float, region: str = "US-TEX-ERCO",
                    ppa: Sequence[str] = (), onsite: Sequence[str] = (),
                    battery_mwh: float = 0.0, battery_mw: float = 0.0,
                    interconnect_mw: float | None = None) -> dict[str, Any]:
    """A typical year of a site drawing ``load_mw`` (constant) in ``region`` with the given
    contracts (``TECH:MW[:USD_PER_MWH]``): the account's totals, the derived ratios and
    each contract's capacity factor with its basis. Raises :class:`InputError` on bad
    inputs (each naming its flag)."""
    from gputwin.energy.regions import region_grid
    from gputwin.energy.tables import default_tables

    if not (math.isfinite(load_mw) and load_mw > 0):
        raise InputError(f"expected a load in MW > 0, got {load_mw!r}", where="--load-mw")
    if (battery_mwh > 0) != (battery_mw > 0):
        raise InputError("a battery needs both its energy (--battery-mwh) and its power "
                         "(--battery-mw), or neither", where="--battery-mwh/--battery-mw")
    default_tables().region(region, where="--region")  # an unknown name, at its flag
    bat = (Battery(battery_mwh * J_PER_MWH, battery_mw * W_PER_MW) if battery_mwh > 0
           else None)
    sup = PowerSupply(parse_generators(ppa, "--ppa"), parse_generators(onsite, "--onsite"),
                      bat, None if interconnect_mw is None else interconnect_mw * W_PER_MW)
    totals = supply_account(load_mw * W_PER_MW, region_grid(region), sup).totals
    return {"region": region, **totals, **derived_ratios(totals, sup),
            "capacity_factors": sup.capacity_factors(region)}
