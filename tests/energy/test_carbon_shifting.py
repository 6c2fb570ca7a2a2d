"""Direction tests on the real 2023 grid data: time shifting vs region choice.

"Let's Wait Awhile" (Wiesner et al., Middleware 2021) found that shifting delay-tolerant
jobs saves carbon where the grid swings daily and almost nothing on a flat grid. Singapore
(gas, ~4 % daily swing in 2023) is the flattest zone in the data set.
"""

from __future__ import annotations

import numpy as np
from tests.energy.conftest import GRID_DIR, needs_grid_data

from gputwin.energy.grid import GridSeries, PerfectForecast, PersistenceForecast
from gputwin.energy.regions import region_grid

JOB_H = 4
WINDOW_H = 24


def _shift_savings(series: GridSeries, forecast_kind: str = "perfect") -> float:
    """Mean saving of starting a JOB_H-hour job at the best hour of the next WINDOW_H hours
    (chosen with the forecast) instead of right away, over every day of the year."""
    fc = PerfectForecast(series) if forecast_kind == "perfect" else PersistenceForecast(series)
    now_cost, best_cost = 0.0, 0.0
    for day in range(364):
        now = day * 86400.0
        pred = fc.predict(now, WINDOW_H * 3600.0)
        window = np.convolve(pred, np.ones(JOB_H), mode="valid")[: WINDOW_H - JOB_H + 1]
        start = now + int(np.argmin(window)) * 3600.0
        now_cost += series.integral(now, now + JOB_H * 3600.0)
        best_cost += series.integral(start, start + JOB_H * 3600.0)
    return 1.0 - best_cost / now_cost


def _carbon(region: str) -> GridSeries:
    return region_grid(region, GRID_DIR.parents[1]).carbon_g_per_j


@needs_grid_data
def test_shifting_saves_markedly_more_on_swinging_grids_than_on_a_flat_one() -> None:
    flat = _shift_savings(_carbon("SG"))
    for region in ("GB", "US-CAL-CISO"):
        saving = _shift_savings(_carbon(region))
        assert saving > 0.10, region
        assert saving > 4 * flat, (region, saving, flat)
    assert flat < 0.05


@needs_grid_data
def test_a_persistence_forecast_keeps_part_of_the_saving() -> None:
    series = _carbon("US-CAL-CISO")
    perfect = _shift_savings(series, "perfect")
    persistence = _shift_savings(series, "persistence")
    assert 0.0 < persistence <= perfect + 1e-12


@needs_grid_data
def test_cleanest_region_saves_more_than_shifting_in_time() -> None:
    regions = ("GB", "US-CAL-CISO", "DE-LU", "CA-ON", "BR-SP", "SG", "US-TEX-ERCO")
    means = {r: _carbon(r).mean for r in regions}
    cleanest = min(means, key=means.__getitem__)
    for region in ("GB", "US-CAL-CISO", "DE-LU"):
        move = 1.0 - means[cleanest] / means[region]
        assert move > _shift_savings(_carbon(region)), region
