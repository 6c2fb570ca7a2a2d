"""``estimate_supply`` (``economics supply`` and validate's ``supply`` kind): ratios."""

from __future__ import annotations

import pytest

from gputwin.energy.supply_tables import supply_table
from gputwin.errors import InputError, UnknownNameError
from gputwin.run.estimate_supply import estimate_supply


def test_capacity_factors_and_prices_come_back_from_the_year() -> None:
    d = estimate_supply(load_mw=100, region="US-CAL-CISO", ppa=["solar-pv:100"],
                        onsite=["smr:50"])
    tab = supply_table()
    assert d["ppa_capacity_factor_frac"] == pytest.approx(
        tab.capacity_factor("solar-pv", "US-CAL-CISO"), rel=1e-6)
    assert d["onsite_capacity_factor_frac"] == pytest.approx(
        tab.capacity_factor("smr", "US-CAL-CISO"), rel=1e-6)
    assert d["ppa_usd_per_mwh"] == pytest.approx(tab.tech("solar-pv").usd_per_mwh)
    assert d["onsite_co2e_g_per_kwh"] == 0.0
    assert d["battery_round_trip_frac"] is None  # no battery: no ratio, not a zero


def test_onsite_output_capped_by_the_load_lowers_its_factor() -> None:
    d = estimate_supply(load_mw=10, region="US-MIDA-PJM", onsite=["gas-cc:50"])
    assert d["onsite_capacity_factor_frac"] == pytest.approx(10 / 50)


def test_battery_gives_back_less_than_it_took() -> None:
    d = estimate_supply(load_mw=10, region="US-CAL-CISO", ppa=["solar-pv:100"],
                        battery_mwh=40, battery_mw=10)
    rte = supply_table().battery.round_trip_efficiency_frac
    # energy still stored at the year's end is the only other loss
    assert rte * 0.97 < d["battery_round_trip_frac"] <= rte + 1e-9


def test_a_price_given_in_the_spec_is_the_one_paid() -> None:
    d = estimate_supply(load_mw=100, ppa=["wind-onshore:50:41.5"])
    assert d["ppa_usd_per_mwh"] == pytest.approx(41.5)


@pytest.mark.parametrize(("kw", "where"), [
    ({"ppa": ["solar"]}, "--ppa"),
    ({"onsite": ["smr:-1"]}, "--onsite smr:-1"),
    ({"battery_mwh": 10.0}, "--battery-mwh/--battery-mw"),
    ({"load_mw": 0.0}, "--load-mw"),
])
def test_bad_inputs_name_their_flag(kw: dict[str, object], where: str) -> None:
    args: dict[str, object] = {"load_mw": 10.0} | kw
    with pytest.raises(InputError) as err:
        estimate_supply(**args)  # type: ignore[arg-type]
    assert err.value.where == where


def test_unknown_region_is_named() -> None:
    with pytest.raises(UnknownNameError):
        estimate_supply(load_mw=10, region="XX-NOWHERE")
