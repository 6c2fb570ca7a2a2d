"""Issue 14: a site's power supply (PPAs, on-site generation, battery, interconnect) inside
cluster and serving runs, matched hour by hour against the run's facility energy."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.run.simulate import simulate
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario import load_scenario
from gputwin.scenario.serving import load_serving_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "site-ppa-battery.yaml"
SERVE = ROOT / "src" / "gputwin" / "scenarios" / "serve-default.yaml"


def test_example_site_with_ppa_and_battery_reports_market_below_location() -> None:
    result = simulate(load_scenario(EXAMPLE))
    s = result.summary
    sup = s["site"]["supply"]
    assert sup["co2e_market_hourly_g"] < 0.5 * sup["co2e_location_g"]
    from gputwin.report.energy import energy_cards, supply_cli_line

    labels = [c[0] for c in energy_cards(result)]
    assert "24/7 CFE" in labels and "CO2e market-based" in labels
    line = supply_cli_line(sup)
    assert line is not None and "market-based" in line
    assert 0.3 < sup["cfe_score_frac"] < 1.0
    assert sup["battery_discharge_j"] > 0 and sup["ppa_matched_j"] > 0
    # the supply matched the run's own facility energy, every hour of the horizon
    assert sup["load_j"] == pytest.approx(s["energy_facility_j"], rel=1e-9)
    assert sup["hours"] == 7 * 24
    # owned GPUs: the run's cost with the supply's energy cost replacing the grid's
    assert sup["cost_usd"] == pytest.approx(s["cost_compute_usd"] + sup["cost_energy_usd"])
    assert sup["cost_ppa_usd"] > 0 and sup["cost_onsite_usd"] > 0
    # the interconnect (+ firm fuel cell output) is the scheduler's site budget
    assert s["site"]["power_budget_w"] == pytest.approx(120e3 + 20e3 * 0.95)
    assert s["site"]["facility_power_peak_w"] <= s["site"]["power_budget_w"]


def test_grid_only_supply_agrees_with_the_ledger() -> None:
    """Without PPAs or storage, the supply's location-based carbon is the ledger's own
    operational carbon: the same hourly facility energy times the same intensity."""
    sc = load_scenario(EXAMPLE, ["site.power_supply.ppas=[]", "site.power_supply.onsite=[]",
                                 "site.power_supply.battery=null",
                                 "site.power_supply.interconnect=null"])
    s = simulate(sc).summary
    sup = s["site"]["supply"]
    assert sup["co2e_location_g"] == pytest.approx(s["co2e_operational_g"], rel=1e-6)
    assert sup["co2e_market_hourly_g"] == pytest.approx(sup["co2e_location_g"], rel=1e-9)
    assert sup["cfe_score_frac"] == 0.0
    assert sup["cost_grid_usd"] == pytest.approx(s["cost_energy_usd"], rel=1e-6)


def test_interconnect_below_the_idle_draw_is_refused() -> None:
    with pytest.raises(InputError, match=r"site\.power_supply\.interconnect"):
        simulate(load_scenario(EXAMPLE, ["site.power_supply.interconnect=10kW",
                                         "site.power_supply.onsite=[]"]))


@pytest.mark.parametrize("override, expected", [
    ("site.power_supply.ppas=[{tech: solar-pvv, capacity: 1MW}]", "solar-pv"),
    ("site.power_supply.onsite=[{tech: wind-onshore, capacity: 1MW}]", "not firm"),
    ("site.power_supply.battery={capacity: 1MW, power: 1MW}", "energy"),
])
def test_bad_power_supply_names_the_field(override: str, expected: str) -> None:
    with pytest.raises(InputError) as info:
        load_scenario(EXAMPLE, [override])
    assert "power_supply" in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("start, lit", [("2023-06-01T18:00", True),
                                        ("2023-06-01T08:00", False)])
def test_serving_run_matches_solar_by_daylight(start: str, lit: bool) -> None:
    """California at 11:00 local (18:00 UTC) vs 01:00: a solar PPA covers the service
    by day and nothing by night; the ledger's hourly energy is what gets matched."""
    sc = load_serving_scenario(SERVE, [
        f"site.start={start}", "site.power_supply={ppas: [{tech: solar-pv, capacity: 20kW}]}",
        "serving.workload.0.num_requests=400"])
    r = simulate_serving(sc)
    sup = r.summary["site"]["supply"]
    assert sup["load_j"] > 0
    assert (sup["cfe_score_frac"] > 0.99) is lit and (sup["cfe_score_frac"] == 0.0) is not lit
    assert (sup["co2e_market_hourly_g"] < 0.01 * sup["co2e_location_g"]) is lit


def test_run_summary_names_the_regional_capacity_factor_basis() -> None:
    """A PPA in a region with a published factor reports that region's figure and year in
    the run summary; a technology the region lacks falls back to the US figure."""
    sc = load_serving_scenario(SERVE, [
        "site.start=2023-06-01T18:00",
        "site.power_supply={ppas: [{tech: solar-pv, capacity: 20kW},"
        " {tech: wind-onshore, capacity: 20kW}]}",
        "serving.workload.0.num_requests=200"])
    factors = simulate_serving(sc).summary["site"]["supply"]["capacity_factors"]
    by_tech = {f["tech"]: f for f in factors}
    region = sc.site.region
    assert region == "US-CAL-CISO"
    assert by_tech["solar-pv"]["capacity_factor"] == pytest.approx(0.284)
    assert by_tech["solar-pv"]["basis"] == "US-CAL-CISO 2014-2017 mean (California)"
    assert by_tech["wind-onshore"]["capacity_factor"] == pytest.approx(0.270)
    assert by_tech["wind-onshore"]["basis"] == "US-CAL-CISO 2020 (California)"
    br = load_serving_scenario(SERVE, [
        "site.region=BR-SP", "site.start=2023-06-01T15:00",
        "site.power_supply={ppas: [{tech: solar-pv, capacity: 20kW},"
        " {tech: wind-onshore, capacity: 20kW}]}",
        "serving.workload.0.num_requests=200"])
    br_factors = {f["tech"]: f for f in
                  simulate_serving(br).summary["site"]["supply"]["capacity_factors"]}
    assert br_factors["wind-onshore"]["basis"] == "BR-SP 2014 (national)"
    assert br_factors["solar-pv"]["basis"].startswith("no BR-SP figure")
