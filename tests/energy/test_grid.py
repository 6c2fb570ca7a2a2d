"""Grid series (O(1) integrals, wrap-around) and the three forecasts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputwin.energy.grid import (
    GridSeries,
    NoisyForecast,
    PerfectForecast,
    PersistenceForecast,
)
from gputwin.errors import InputError

VALUES = np.arange(48, dtype=float) % 24 + 1.0  # two identical days: 1..24
SERIES = GridSeries(VALUES, name="test")


def brute_integral(s: GridSeries, t0: float, t1: float) -> float:
    ts = np.linspace(t0, t1, 20001)
    mid = (ts[:-1] + ts[1:]) / 2
    return float(sum(s.at(t) for t in mid) * (t1 - t0) / mid.size)


@given(st.floats(0, 3 * 86400), st.floats(0, 2 * 86400))
def test_integral_matches_brute_force(t0: float, span: float) -> None:
    got = SERIES.integral(t0, t0 + span)
    assert got == pytest.approx(brute_integral(SERIES, t0, t0 + span), rel=2e-3, abs=60)


def test_at_mean_over_and_wrap_around() -> None:
    assert SERIES.at(0) == 1.0 and SERIES.at(3599.9) == 1.0 and SERIES.at(3600) == 2.0
    assert SERIES.at(48 * 3600) == SERIES.at(0)  # periodic
    assert SERIES.mean_over(0, 86400) == pytest.approx(12.5)
    assert SERIES.with_offset(3600).at(0) == 2.0
    with pytest.raises(InputError):
        GridSeries(np.array([1.0, np.nan]))


def test_perfect_and_persistence_forecasts() -> None:
    now = 30 * 3600.0  # hour 30 = hour 6 of day 2
    assert list(PerfectForecast(SERIES).predict(now, 3 * 3600)) == [7.0, 8.0, 9.0]
    ramp = GridSeries(np.arange(72, dtype=float))
    pred = PersistenceForecast(ramp).predict(30 * 3600.0, 30 * 3600)
    assert pred[0] == 6.0  # same hour yesterday
    assert pred[25] == 7.0  # beyond a day it still uses the last known day


def test_noisy_forecast_is_seeded_and_worse_further_ahead() -> None:
    flat = GridSeries(np.full(8760, 100.0), name="flat")
    fc = NoisyForecast(flat, rel_error_per_day=0.2, seed=7)
    a = fc.predict(5 * 3600.0, 48 * 3600)
    assert np.array_equal(a, fc.predict(5 * 3600.0, 48 * 3600))
    errs = [np.abs(NoisyForecast(flat, 0.2, seed=s).predict(0.0, 96 * 3600) - 100.0)
            for s in range(200)]
    mean_err = np.mean(errs, axis=0)
    assert mean_err[:6].mean() < mean_err[-24:].mean()
