"""Bad carbon plugin args are InputErrors naming the scenario field (and its line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.scheduling.test_carbon_builders import job, scenario, world_with, write

from gputwin.errors import InputError
from gputwin.scenario import load_scenario

BASE = """\
name: bad-args
cluster: {system: dgx-h100, num_nodes: 4}
workload:
  synthetic:
    num_jobs: 2
    arrival: {mean_interarrival: 1h}
    templates:
      - {model: llama3-8b, num_gpus: 8, global_batch_size: 8, tokens: 1e6,
         deferrable_slack: 12h}
scheduler:
  profile: %s
  args:
    %s
"""


@pytest.mark.parametrize(("profile", "args", "field"), [
    ("carbon-threshold", "carbon-threshold: {percentile: 150}", "percentile"),
    ("carbon-threshold", "carbon-threshold: {threshold_g_per_kwh: -3}", "threshold_g_per_kwh"),
    ("carbon-threshold", "carbon-threshold: {percentile: 20, threshold_g_per_kwh: 100}",
     "carbon-threshold"),
    ("carbon-window", "carbon-window: {region: GBB}", "region"),
    ("carbon-window", "carbon-window: {forecast: oracle}", "forecast"),
    ("carbon-window", "carbon-window: {start: yesterday}", "start"),
    ("carbon-window", "carbon-window: {slack_counts: end}", "slack_counts"),
    ("carbon-suspend", "carbon-suspend: {min_suspend_s: 0}", "min_suspend_s"),
    ("carbon-cap", "carbon-power-cap: {cap_frac_of_tdp: 1.5}", "cap_frac_of_tdp"),
    ("carbon-spatial", "carbon-spatial: {wan_bandwidth: fast}", "wan_bandwidth"),
    ("carbon-spatial", "carbon-spatial: {regions: [{name: GB, nodes: 0}]}", "nodes"),
])
def test_bad_args_name_the_field(tmp_path: Path, profile: str, args: str, field: str) -> None:
    path = write(tmp_path, BASE % (profile, args))
    with pytest.raises(InputError) as info:
        load_scenario(path)
    message = str(info.value)
    assert field in message and "s.yaml" in message, message


def test_unknown_region_suggests_a_close_match(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="CA-ON"):
        load_scenario(write(tmp_path, BASE % ("carbon-window", "carbon-window: {region: CA-OM}")))


def test_region_groups_must_cover_the_cluster() -> None:
    sc = scenario("carbon-spatial", {"carbon-spatial": {"regions": [{"name": "GB", "nodes": 3}]}})
    with pytest.raises(InputError, match="regions"):
        world_with(sc, [job("a", 0, 1)])


def test_a_cap_below_the_driver_minimum_is_refused() -> None:
    sc = scenario("carbon-cap", {"carbon-power-cap": {"cap_w": 100}})
    with pytest.raises(InputError, match="cap_w"):
        world_with(sc, [job("a", 0, 1)])


def test_missing_real_grid_data_is_an_input_error(tmp_path: Path) -> None:
    sc = scenario("carbon-window", {"carbon-window": {"grid_data": str(tmp_path)}})
    with pytest.raises(InputError, match="grid/carbon-2023"):
        world_with(sc, [job("a", 0, 1)])
