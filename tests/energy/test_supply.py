"""Power supply: PPAs, on-site generation, batteries, interconnection limits, carbon views."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from gputwin.energy.grid import HOUR_S, J_PER_MWH
from gputwin.energy.regions import region_grid
from gputwin.energy.supply import Battery, Generator, PowerSupply, supply_account
from gputwin.energy.supply_profiles import per_unit_profile
from gputwin.energy.supply_tables import supply_table
from gputwin.errors import InputError, UnknownNameError

MW = 1e6
MWH = J_PER_MWH


@pytest.mark.parametrize("tech", ["solar-pv", "wind-onshore", "smr", "gas-turbine"])
@pytest.mark.parametrize("region", ["US-TEX-ERCO", "GB", "AU-NSW"])
def test_profiles_hit_the_published_capacity_factor(tech: str, region: str) -> None:
    p = per_unit_profile(tech, region)
    assert p.shape == (8760,)
    assert p.min() >= 0 and p.max() <= 1.0
    assert p.mean() == pytest.approx(supply_table().capacity_factor(tech, region), rel=1e-3)


@pytest.mark.parametrize(("tech", "region", "published"), [
    ("solar-pv", "GB", 0.112),  # DUKES 2023 Table 6.3, 2018-2022 mean
    ("wind-onshore", "GB", 0.263),
    ("solar-pv", "DE-LU", 0.092),  # Energy-Charts 2023 / BNetzA capacity
    ("wind-onshore", "IN-WE", 0.212),  # CEA / MNRE FY2023-24
    ("wind-onshore", "US-NY-NYIS", 0.234),  # NYISO Gold Book 2025, 2024 land-based wind
    ("solar-pv", "US-CAL-CISO", 0.284),  # EIA Today in Energy, California 2014-2017 mean
    ("wind-onshore", "US-CAL-CISO", 0.270),  # CalWEA 2020: 13,703 GWh / 5,787 MW
    ("wind-onshore", "JP-TK", 0.208),  # IEA Wind TCP, Japan 2020 national
    ("wind-onshore", "BR-SP", 0.37),  # Ministry of Mines and Energy, Brazil 2014 national
    ("wind-onshore", "US-TEX-ERCO", 0.369),  # EIA Texas 2019: 84.4 TWh / mean 26.1 GW
    ("wind-onshore", "CA-ON", 0.341),  # wind-blog.com from IESO data, Ontario 2014
    ("solar-pv", "CL-SIC", 0.277),  # CEN 2020 / CNE and Generadoras capacity, national
    ("wind-onshore", "CL-SIC", 0.301),
    ("solar-pv", "KR", 0.154),  # IEA PVPS Korea 2022: 4.9 % of 626,448 GWh / mean 22.7 GW
    ("solar-pv", "JP-TK", 0.142),  # ANRE, Japan non-residential PV, year to May 2020
    ("wind-onshore", "KR", 0.189),  # five state generators' wind farms, five years to 2019
    ("wind-onshore", "US-MIDA-PJM", 0.250),  # SNL: PJM 2010 wind, about 25 %
    ("solar-pv", "US-MIDA-PJM", 0.233),  # PJM has wind only: solar falls back to the US figure
    ("solar-pv", "SG", 0.130),  # one 142.5 kWp rooftop BIPV system: 3.12 kWh/kWp/day / 24 h
    ("solar-pv", "US-TEX-ERCO", 0.233),  # no regional figure: EIA US 2023
    ("solar-pv", "BR-SP", 0.233),  # BR-SP has wind only: solar falls back to the US figure
    ("wind-onshore", "ZA", 0.332),  # no South African figure found yet
    ("solar-pv", "CA-ON", 0.233),  # CA-ON has wind only
])
def test_regional_capacity_factors_set_the_annual_energy(tech: str, region: str,
                                                         published: float) -> None:
    assert per_unit_profile(tech, region).mean() == pytest.approx(published, rel=1e-3)
    gen = Generator(tech, 100 * MW)
    used = PowerSupply(ppas=(gen,)).capacity_factors(region)[0]
    assert used["capacity_factor"] == pytest.approx(published)
    regional = tech in supply_table().regional_capacity_factors.get(region, {})
    assert used["basis"].startswith("no ") != regional
    if regional:
        assert used["basis"].startswith(f"{region} ")


def test_a_contract_capacity_factor_overrides_the_regional_one() -> None:
    gen = Generator("solar-pv", 100 * MW, capacity_factor=0.14)
    assert gen.profile_w("GB").mean() == pytest.approx(0.14 * 100 * MW, rel=1e-3)
    assert gen.capacity_factor_used("GB")["basis"] == "given for this contract"


def test_solar_is_dark_at_night_and_follows_the_hemisphere() -> None:
    tx = per_unit_profile("solar-pv", "US-TEX-ERCO")  # Dallas, UTC-6
    local = (np.arange(8760) - 6) % 24
    assert tx[(local >= 22) | (local <= 3)].max() == 0.0
    assert tx[(local >= 11) & (local <= 14)].mean() > 0.5
    jan, jul = slice(0, 744), slice(4344, 5088)
    assert tx[jul].mean() > tx[jan].mean()
    syd = per_unit_profile("solar-pv", "AU-NSW")
    assert syd[jan].mean() > syd[jul].mean()


def test_grid_only_site_has_equal_carbon_views() -> None:
    a = supply_account(100 * MW, region_grid("US-TEX-ERCO"), PowerSupply()).totals
    assert a["grid_import_j"] == pytest.approx(a["load_j"])
    assert a["co2e_market_hourly_g"] == pytest.approx(a["co2e_location_g"])
    assert a["cfe_score_frac"] == 0.0


def test_ppa_and_battery_put_market_based_carbon_below_location_based() -> None:
    """Issue 14's check: a site with a PPA and a battery."""
    grid = region_grid("US-TEX-ERCO")
    ppa = (Generator("solar-pv", 150 * MW), Generator("wind-onshore", 150 * MW))
    no_bat = supply_account(100 * MW, grid, PowerSupply(ppas=ppa)).totals
    bat = supply_account(100 * MW, grid, PowerSupply(
        ppas=ppa, battery=Battery(400 * MWH, 100 * MW))).totals
    for a in (no_bat, bat):
        assert a["co2e_market_hourly_g"] < a["co2e_location_g"]
        assert a["co2e_market_annual_g"] <= a["co2e_market_hourly_g"]
    assert bat["cfe_score_frac"] > no_bat["cfe_score_frac"]
    assert bat["battery_discharge_j"] == pytest.approx(
        bat["battery_charge_j"] * 0.85, rel=0.02)  # ends near empty; losses = 1 - RTE
    # energy balance: load = on-site + grid - charge + discharge (+ unserved)
    assert bat["load_j"] == pytest.approx(bat["onsite_j"] + bat["grid_import_j"]
                                          - bat["battery_charge_j"]
                                          + bat["battery_discharge_j"] + bat["unserved_j"])


def test_onsite_firm_generation_and_interconnect_limit() -> None:
    grid = region_grid("US-MIDA-PJM")
    smr = supply_account(100 * MW, grid, PowerSupply(onsite=(Generator("smr", 50 * MW),),
                                                      interconnect_w=40 * MW)).totals
    assert smr["onsite_j"] == pytest.approx(50 * MW * 0.93 * 8760 * HOUR_S)
    assert smr["co2e_onsite_g"] == 0.0
    assert smr["unserved_j"] == pytest.approx((100 - 46.5 - 40) * MW * 8760 * HOUR_S)
    assert smr["hours_at_interconnect_limit"] == 8760
    gas = supply_account(100 * MW, grid, PowerSupply(
        onsite=(Generator("gas-turbine", 200 * MW),))).totals
    assert gas["grid_import_j"] == 0.0
    assert gas["co2e_onsite_g"] == pytest.approx(gas["load_j"] / 3.6e6 * 530)
    assert gas["cfe_score_frac"] == 0.0


def test_ppa_cost_is_its_energy_at_the_contract_price() -> None:
    a = supply_account(10 * MW, region_grid("GB"), PowerSupply(
        ppas=(Generator("wind-onshore", 20 * MW, usd_per_mwh=50.0),))).totals
    assert a["cost_ppa_usd"] == pytest.approx(a["ppa_j"] / MWH * 50.0)
    assert a["ppa_j"] == pytest.approx(20 * 0.263 * 8760 * MWH, rel=1e-3)  # GB's wind


def test_bad_supply_inputs() -> None:
    with pytest.raises(InputError, match="not firm"):
        PowerSupply(onsite=(Generator("solar-pv", MW),))
    with pytest.raises(UnknownNameError):
        PowerSupply(ppas=(Generator("fusion", MW),)).ppas[0].profile_w("GB")
    with pytest.raises(InputError):
        Generator("smr", -1.0)
    with pytest.raises(InputError):
        Battery(MWH, MW, round_trip_efficiency_frac=1.5)
    with pytest.raises(InputError):
        supply_account(-5.0, region_grid("GB"), PowerSupply())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
@pytest.mark.parametrize(("build", "where"), [
    (lambda x: Generator("smr", x), "smr.capacity_w"),
    (lambda x: Generator("smr", MW, usd_per_mwh=x), "smr.usd_per_mwh"),
    (lambda x: Generator("solar-pv", MW, capacity_factor=x), "solar-pv.capacity_factor"),
    (lambda x: Battery(x, MW), "battery capacity_j"),
    (lambda x: Battery(MWH, x), "battery power_w"),
    (lambda x: Battery(MWH, MW, round_trip_efficiency_frac=x),
     "battery round_trip_efficiency_frac"),
    (lambda x: PowerSupply(interconnect_w=x), "interconnect_w"),
])
def test_non_finite_supply_inputs_are_refused(build: Any, where: str, bad: float) -> None:
    """``x < 0`` lets NaN through; the Python API refuses NaN, infinity and negatives,
    naming the field."""
    with pytest.raises(InputError, match=f"^{where}: expected a finite number"):
        build(bad)


def test_window_matches_the_year_hour_by_hour() -> None:
    """A run's window of hours sees the same grid and profiles as the typical year."""
    from gputwin.energy.supply import supply_window

    grid = region_grid("US-TEX-ERCO")
    ps = PowerSupply(ppas=(Generator("solar-pv", 80 * MW),))
    year = supply_account(100 * MW, grid, ps).hourly
    w = supply_window(np.full(48, 100 * MW * HOUR_S), grid, ps, start_hour=3600)
    assert np.allclose(w.hourly["ppa_j"], year["ppa_j"][3600:3648])
    wrap = supply_window(np.full(10, 1e9), grid, ps, start_hour=8755)
    assert np.allclose(wrap.hourly["ppa_j"][5:], year["ppa_j"][:5])
    with pytest.raises(InputError, match="finite and non-negative"):
        supply_window(np.array([1.0, -1.0]), grid, ps, start_hour=0)


def test_peak_shave_battery_serves_load_above_the_interconnect() -> None:
    """A load that peaks above the interconnection limit: a peak-shaving battery charges
    from the grid's headroom and covers the peaks; a CFE battery without PPA surplus has
    nothing to give. Grid-charged energy is not counted as carbon-free."""
    from gputwin.energy.supply import supply_window

    grid = region_grid("DE-LU")
    load = np.tile(np.r_[np.full(20, 80.0), np.full(4, 120.0)], 7) * MW * HOUR_S
    bat = dict(capacity_j=200 * MWH, power_w=50 * MW)
    shave = supply_window(load, grid, PowerSupply(battery=Battery(**bat, policy="peak-shave"),
                                                  interconnect_w=100 * MW), start_hour=0)
    cfe = supply_window(load, grid, PowerSupply(battery=Battery(**bat),
                                                interconnect_w=100 * MW), start_hour=0)
    t, c = shave.totals, cfe.totals
    assert c["unserved_j"] == pytest.approx(7 * 4 * 20 * MWH)
    assert c["hours_at_interconnect_limit"] == 28
    assert t["unserved_j"] < 0.05 * c["unserved_j"]
    assert t["battery_charge_grid_j"] > 0 and t["cfe_score_frac"] == 0.0
    assert t["co2e_market_hourly_g"] == pytest.approx(t["co2e_location_g"], rel=0.05)
    assert shave.hourly["grid_import_j"].max() <= 100 * MW * HOUR_S * (1 + 1e-9)
    with pytest.raises(InputError, match="policy"):
        Battery(1.0, 1.0, policy="arbitrage")


def test_a_virtual_ppa_costs_strike_less_market_on_every_mwh() -> None:
    """A PPA far below the load is all matched; the site still draws its whole load from
    the grid, so the PPA's net cost is (strike - hourly market price) on each MWh: the
    total equals the grid-only cost plus that, not grid cost plus the full strike."""
    grid = region_grid("GB")
    alone = supply_account(10 * MW, grid, PowerSupply()).totals
    ppa = supply_account(10 * MW, grid, PowerSupply(
        ppas=(Generator("wind-onshore", 2 * MW, usd_per_mwh=50.0),))).totals
    assert ppa["ppa_sold_j"] == pytest.approx(0.0, abs=1e-6)
    assert ppa["cost_grid_usd"] == pytest.approx(alone["cost_grid_usd"])
    net = ppa["cost_ppa_usd"] - ppa["revenue_ppa_settlement_usd"]
    assert ppa["cost_total_usd"] == pytest.approx(alone["cost_total_usd"] + net)
    assert 0 < ppa["revenue_ppa_settlement_usd"] < ppa["cost_grid_usd"]
