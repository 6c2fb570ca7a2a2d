"""The scenario's site section: load-time checks naming the field, rack layout defaults,
grid-data resolution, and the bundled default scenario carrying a valid site."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.energy.facility import rack_power_w
from gputwin.errors import InputError
from gputwin.run.energy_setup import resolve_grid_dir
from gputwin.scenario import load_scenario
from gputwin.scenario.site import SiteConfig, rack_layout

CAT = default_catalog()
GB200 = """\
cluster: {system: gb200-nvl72, num_nodes: 18}
workload:
  synthetic:
    num_jobs: 1
    arrival: {mean_interarrival: 1h}
    templates: [{model: llama3-8b, num_gpus: 4, global_batch_size: 64, tokens: 1e9}]
site:
  region: US-CAL-CISO
  cooling: air
"""


def test_gb200_nvl72_without_liquid_cooling_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(GB200)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "site.cooling" in text and f"{path}:9" in text and "liquid" in text
    ok = load_scenario(path, ["site.cooling=liquid"])
    assert ok.site is not None


def test_unknown_region_suggests_close_names(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(GB200.replace("cooling: air", "cooling: liquid"))
    with pytest.raises(InputError, match=r"site.region.*did you mean 'US-CAL-CISO'"):
        load_scenario(path, ["site.region=US-CAL-CISX"])
    with pytest.raises(InputError, match=r"site\.power_budget"):
        load_scenario(path, ["site.power_budget=lots"])


def test_rack_defaults_follow_the_cooling_limit() -> None:
    """DGX H100 (10.2 kW nameplate): 3 fit a 40 kW air rack, 1 a 20 kW air-legacy rack
    (2 x 10.2 > 20), 4 (the SuperPOD default) a 140 kW liquid rack; 18 GB200 trays plus
    switch trays (118.8 kW) fit liquid."""
    h100, dgx = CAT.accelerators["h100-sxm-80gb"], CAT.systems["dgx-h100"]
    assert rack_layout(SiteConfig(cooling="air"), h100, dgx).nodes_per_rack == 3
    assert rack_layout(SiteConfig(cooling="air-legacy"), h100, dgx).nodes_per_rack == 1
    assert rack_layout(SiteConfig(cooling="liquid"), h100, dgx).nodes_per_rack == 4
    gb = CAT.systems["gb200-nvl72"]
    lay = rack_layout(SiteConfig(), CAT.accelerators[gb.accelerator], gb)
    assert lay.cooling == "liquid" and lay.nodes_per_rack == 18 and lay.full_rack_fits
    four = rack_layout(SiteConfig(cooling="air", racks={"nodes_per_rack": 4}), h100, dgx)
    assert not four.full_rack_fits
    assert four.full_rack_nameplate_w == pytest.approx(rack_power_w(h100, dgx, 4))


def test_grid_data_resolution(tmp_path: Path) -> None:
    assert resolve_grid_dir("synthetic") is None
    (tmp_path / "grid" / "carbon-2023").mkdir(parents=True)
    assert resolve_grid_dir(str(tmp_path)) == tmp_path
    assert resolve_grid_dir(str(tmp_path / "grid")) == tmp_path
    with pytest.raises(InputError, match=r"site\.grid_data"):
        resolve_grid_dir(str(tmp_path / "nowhere"))


def test_bundled_default_has_a_valid_site() -> None:
    sc = load_scenario(None)
    assert sc.site is not None
    h100, dgx = CAT.accelerators["h100-sxm-80gb"], CAT.systems["dgx-h100"]
    lay = rack_layout(sc.site, h100, dgx)
    assert lay.full_rack_fits and lay.cooling == "air"
