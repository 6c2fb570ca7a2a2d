"""Direction tests on the real 2023 grid data, through the simulator with the carbon plugins.

"Let's Wait Awhile" (Wiesner et al., Middleware 2021): shifting delay-tolerant jobs in
time saves carbon where the grid swings daily (up to ~19 % in their regions) and almost
nothing on a flat grid; choosing a cleaner region saves more. Workload: four weeks of
8-GPU fine-tuning jobs (5-13 h each) that may start up to 24 h late, on a cluster large
enough that nobody waits for GPUs; baseline = the same run without carbon plugins.
Numbers are recorded in docs/carbon-aware.md.
"""

from __future__ import annotations

from functools import cache

import pytest

from gputwin.run.carbon_report import CarbonGrid, PolicyOutcome, compare_policies
from gputwin.scenario import Scenario
from gputwin.scenario.paths import data_dir

GRID = data_dir() / "grid" / "carbon-2023"
needs_grid = pytest.mark.skipif(
    not (GRID / "GB_2023_hourly.csv").exists(),
    reason=f"real 2023 grid data not found under {data_dir()} (set GPUTWIN_DATA_DIR)")
START = "2023-03-01T00:00"


def workload() -> Scenario:
    return Scenario.model_validate({
        "name": "carbon-directions", "seed": 7,
        "cluster": {"system": "dgx-h100", "num_nodes": 32},
        "workload": {"synthetic": {
            "num_jobs": 224, "arrival": {"process": "poisson", "mean_interarrival": "3h"},
            "templates": [{"model": "llama3-8b", "num_gpus": 8, "global_batch_size": 64,
                           "seq_len": 4096, "tokens": [1.5e9, 4e9], "deferrable_slack": "24h",
                           "data_bytes": "200GB"}]}},
    })


@cache
def temporal(region: str, forecast: str = "perfect") -> tuple[PolicyOutcome, ...]:
    grid = CarbonGrid(region=region, grid_data=str(data_dir()), start=START)
    args = {"carbon-window": {"forecast": forecast}}
    return tuple(compare_policies(workload(), ["carbon-window"], grid=grid, plugin_args=args))


def saving(region: str, forecast: str = "perfect") -> float:
    base, shifted = temporal(region, forecast)
    assert base.completed == shifted.completed == base.num_jobs  # nothing lost
    assert shifted.saved_frac is not None
    return shifted.saved_frac


@needs_grid
def test_time_shifting_saves_markedly_more_on_swinging_grids() -> None:
    flat = saving("SG")
    assert 0.0 <= flat < 0.05
    for region in ("GB", "US-CAL-CISO"):
        assert saving(region) > 0.10, region
        assert saving(region) > 4 * flat, region


@needs_grid
def test_shifting_never_exceeds_the_slack_and_adds_bounded_delay() -> None:
    _, shifted = temporal("GB")
    assert shifted.plugin_stats["late"] == 0
    assert shifted.delay_p95_s is not None and shifted.delay_p95_s <= 24 * 3600 + 1.0
    assert shifted.delay_mean_s is not None and shifted.delay_mean_s > 0


@needs_grid
def test_a_persistence_forecast_keeps_part_of_the_saving() -> None:
    assert 0.0 < saving("US-CAL-CISO", "persistence") <= saving("US-CAL-CISO") + 0.01


@needs_grid
def test_the_cleanest_region_saves_more_than_shifting_in_time() -> None:
    grid = CarbonGrid(region="GB", grid_data=str(data_dir()), start=START,
                      regions=(("GB", 16), ("CA-ON", 16)))
    base, spatial = compare_policies(workload(), ["carbon-spatial"], grid=grid)
    assert spatial.completed == base.num_jobs
    assert spatial.plugin_stats["moves"] > 0 and spatial.plugin_stats["egress_usd"] > 0
    assert spatial.saved_frac is not None and spatial.saved_frac > saving("GB") + 0.2
