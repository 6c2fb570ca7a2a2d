"""PUE/WUE vs weather, rack power limits by cooling, and the site power budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputwin.catalog.loader import default_catalog
from gputwin.energy.facility import (
    Facility,
    SiteBudget,
    max_nodes_per_rack,
    pue,
    rack_can_host,
    wue,
)
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError, UnknownNameError

CAT = default_catalog()
COOLING = list(default_tables().cooling)


@given(st.sampled_from(COOLING), st.floats(-30, 50), st.floats(0, 20))
def test_pue_and_wue_are_physical_and_grow_with_heat(cooling: str, t: float, dt: float) -> None:
    c = default_tables().cooling_type(cooling)
    assert 1.0 <= pue(c, t) <= pue(c, t + dt) <= c.pue_max
    assert 0.0 <= wue(c, t) <= wue(c, t + dt)


def test_liquid_beats_air_in_a_hot_climate() -> None:
    air = Facility.build("air", "SG").pue_series.mean
    liquid = Facility.build("liquid", "SG").pue_series.mean
    legacy = Facility.build("air-legacy", "SG").pue_series.mean
    assert liquid < air < legacy


def test_air_rack_cannot_hold_a_stack_of_dgx_h100() -> None:
    acc, dgx = CAT.accelerator("h100-sxm-80gb"), CAT.system("dgx-h100")
    assert not rack_can_host(acc, dgx, 8, "air").ok
    assert rack_can_host(acc, dgx, 3, "air").ok
    assert rack_can_host(acc, dgx, 8, "liquid").ok
    assert max_nodes_per_rack(acc, dgx, "air") == 3  # 3 x 10.2 kW <= 40 kW


def test_gb200_nvl72_rack_needs_liquid() -> None:
    acc, tray = CAT.accelerator("gb200"), CAT.system("gb200-nvl72")
    air = rack_can_host(acc, tray, 18, "air")
    assert not air.ok and "liquid" in air.reason
    ok = rack_can_host(acc, tray, 18, "liquid")
    assert ok.ok and 110e3 <= ok.power_w <= 132e3  # NVIDIA: ~120 kW, OEMs up to 132 kW
    with pytest.raises(UnknownNameError):
        rack_can_host(acc, tray, 1, "vapour")


def test_site_budget_books_and_releases_power() -> None:
    site = SiteBudget(10e6)
    site.reserve(0, 3600, 6e6)
    site.reserve(1800, 7200, 3e6)
    assert site.headroom_w(0) == 4e6
    assert site.headroom_w(2000) == 1e6
    assert site.headroom_w(5000) == 7e6
    assert site.min_headroom_w(0, 7200) == 1e6
    assert not site.fits(1000, 2000, 2e6)
    with pytest.raises(InputError, match="does not fit"):
        site.reserve(1000, 2000, 2e6)
    site.release(0, 3600, 6e6)
    assert site.headroom_w(2000) == 7e6
    with pytest.raises(InputError):
        SiteBudget(0)
