"""The grid's carbon-free share and the 24/7 CFE score that credits it (Google's CFE%)."""

from __future__ import annotations

import numpy as np
import pytest

from gputwin.energy.grid import J_PER_KWH
from gputwin.energy.regions import known_regions, region_grid
from gputwin.energy.supply import Battery, Generator, PowerSupply, supply_account
from gputwin.energy.supply_profiles import grid_clean_share
from gputwin.energy.supply_tables import supply_table
from gputwin.energy.tables import default_tables

MW = 1e6


@pytest.mark.parametrize("region", known_regions())
def test_synthetic_year_keeps_the_tabled_annual_share(region: str) -> None:
    share = grid_clean_share(region, region_grid(region).carbon_g_per_j.values)
    assert share.min() >= 0.0 and share.max() <= 1.0
    tabled = supply_table().grid_low_carbon_share(region)
    assert tabled is not None
    assert share.mean() == pytest.approx(tabled, abs=0.01)


def test_share_falls_as_the_carbon_intensity_rises() -> None:
    mean_ci = default_tables().region("GB").carbon.mean_g_per_kwh / J_PER_KWH
    share = grid_clean_share("GB", np.array([0.0, mean_ci, 10 * mean_ci]))
    tabled = supply_table().grid_low_carbon_share("GB")
    assert share[0] == 1.0  # no carbon: all clean
    assert share[1] == pytest.approx(tabled)  # the mean intensity: the mean share
    assert share[2] == 0.0  # above the fossil mix's own intensity: clipped


def test_unknown_region_gets_no_grid_credit() -> None:
    assert not grid_clean_share("XX-NOWHERE", np.ones(4)).any()


def test_grid_only_site_scores_the_grid_share() -> None:
    t = supply_account(100 * MW, region_grid("CA-ON"), PowerSupply()).totals
    assert t["cfe_score_frac"] == 0.0
    assert t["cfe_score_with_grid_frac"] == pytest.approx(
        supply_table().grid_low_carbon_share("CA-ON"), abs=0.01)
    assert t["grid_cfe_j"] == pytest.approx(t["cfe_score_with_grid_frac"] * t["load_j"])


def test_contracts_raise_the_grid_credited_score_but_not_past_one() -> None:
    grid = region_grid("US-TEX-ERCO")
    alone = supply_account(100 * MW, grid, PowerSupply()).totals
    sup = PowerSupply((Generator("solar-pv", 150 * MW), Generator("wind-onshore", 150 * MW)),
                      battery=Battery(400 * 3.6e9, 100 * MW))
    t = supply_account(100 * MW, grid, sup).totals
    assert t["cfe_score_frac"] < t["cfe_score_with_grid_frac"] <= 1.0
    assert t["cfe_score_with_grid_frac"] > alone["cfe_score_with_grid_frac"]
    # the grid is credited only on the load it serves directly, which contracts shrink
    assert t["grid_cfe_j"] < alone["grid_cfe_j"]
