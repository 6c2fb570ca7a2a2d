"""Grid access shared by the carbon-aware plugins: typed args, series, forecasts, wake-ups.

Every carbon plugin names its grid with :class:`GridArgs`: ``region`` (an Electricity Maps
zone known to :mod:`gputwin.energy.regions`, e.g. ``GB``), ``grid_data`` (a data folder
holding ``grid/carbon-2023``; ``None`` = the bundled synthetic year fitted to the 2023
data), ``start`` (where simulation time 0 falls in the year) and ``forecast`` (``perfect``,
``persistence`` or ``noisy`` with ``forecast_error_per_day`` and ``seed``). Intensities
inside are g/J; thresholds at the edge are g/kWh.

Plugins that must be woken up at a future time (a planned start, the next hour, a slack
deadline) keep a :class:`Wakeups` set and expose ``next_wakeup_s(now_s)``; the simulator
asks every plugin after each cycle (see :mod:`gputwin.scheduling.plugins.carbon_hooks`).
"""

from __future__ import annotations

import functools
import heapq
import math
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from gputwin.energy.grid import (
    J_PER_KWH,
    Forecast,
    GridSeries,
    NoisyForecast,
    PerfectForecast,
    PersistenceForecast,
)
from gputwin.energy.regions import known_regions, region_grid
from gputwin.errors import InputError, UnknownNameError
from gputwin.scheduling.api import PluginArgs

ForecastKind = Literal["perfect", "persistence", "noisy"]
EPS_S = 1e-6


class GridArgs(PluginArgs):
    """Where the grid series comes from (shared by every carbon plugin)."""

    region: str = Field(default="GB", description="grid zone (gputwin.energy.regions)")
    grid_data: str | None = Field(
        default=None, description="data folder with grid/carbon-2023 (None = synthetic year)")
    start: str = Field(default="2023-01-01T00:00",
                       description="date of simulation time 0 within the (typical) year")
    forecast: ForecastKind = "perfect"
    forecast_error_per_day: float = Field(default=0.10, ge=0, le=1,
                                          description="noisy forecast: relative sigma at 24 h")
    seed: int = Field(default=0, ge=0, description="noisy forecast seed")

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return check_region(value)

    @field_validator("start")
    @classmethod
    def _valid_start(cls, value: str) -> str:
        start_offset_s(value)
        return value


def check_region(name: str) -> str:
    """``name`` if it is a known grid zone; else ValueError with close matches."""
    known = known_regions()
    if name not in known:
        raise ValueError(UnknownNameError("grid region", name, known).detail)
    return name


def start_offset_s(start: str) -> float:
    """Seconds from 1 January of ``start``'s year to ``start`` (ValueError if malformed)."""
    try:
        t = datetime.fromisoformat(start)
    except ValueError:
        raise ValueError(f"expected a date such as 2023-06-01T00:00, got {start!r}") from None
    return (t.replace(tzinfo=None) - datetime(t.year, 1, 1)).total_seconds()


@functools.cache
def carbon_series(region: str, grid_data: str | None, start: str) -> GridSeries:
    """Direct carbon intensity (g/J) of ``region`` with simulation time 0 at ``start``.
    Raises :class:`InputError` for unreadable real data."""
    data = None if grid_data is None else Path(grid_data)
    if data is not None and not (data / "grid" / "carbon-2023").is_dir():
        raise InputError(f"no grid/carbon-2023 folder under {data}", where="grid_data")
    return region_grid(region, data).carbon_g_per_j.with_offset(start_offset_s(start))


def series_for(args: GridArgs, region: str | None = None) -> GridSeries:
    return carbon_series(region or args.region, args.grid_data, args.start)


def make_forecast(args: GridArgs, series: GridSeries) -> Forecast:
    if args.forecast == "perfect":
        return PerfectForecast(series)
    if args.forecast == "persistence":
        return PersistenceForecast(series)
    return NoisyForecast(series, rel_error_per_day=args.forecast_error_per_day, seed=args.seed)


def g_per_kwh(g_per_j: float) -> float:
    return g_per_j * J_PER_KWH


def next_step_s(series: GridSeries, now_s: float) -> float:
    """The next time after ``now_s`` at which the hourly value changes."""
    step = series.step_s
    k = math.floor((now_s + series.offset_s) / step + 1e-9) + 1
    return k * step - series.offset_s


def forecast_costs(forecast: Forecast, series: GridSeries, now_s: float, latest_s: float,
                   runtime_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate starts in ``[now, latest]`` (now, each hour boundary, latest) and the
    forecast integral of intensity over ``[start, start + runtime]`` for each (g·s/J).

    The grid profile repeats after one period (a year of hours): a job that runs longer
    covers every hour of it, so starts are ranked on the first period of its run, and a
    deadline further than a period ahead adds no start that a nearer one lacks."""
    step = series.step_s
    period_s = series.values.size * step
    runtime_s = min(runtime_s, period_s)
    latest_s = min(latest_s, now_s + period_s)
    slot0 = math.floor((now_s + series.offset_s) / step + 1e-9) * step - series.offset_s
    horizon = max(latest_s, now_s) + runtime_s - slot0
    values = forecast.predict(slot0, horizon + step)
    prefix = np.concatenate(([0.0], np.cumsum(values) * step))

    def cumulative(t: np.ndarray) -> np.ndarray:
        u = np.clip(t - slot0, 0.0, values.size * step)
        k = np.minimum((u // step).astype(np.int64), values.size - 1)
        return np.asarray(prefix[k] + values[k] * (u - k * step))

    bounds = slot0 + step * np.arange(1, max(1, math.ceil((latest_s - slot0) / step)) + 1)
    starts = np.unique(np.concatenate(([now_s], bounds[bounds < latest_s], [max(now_s, latest_s)])))
    costs = cumulative(starts + runtime_s) - cumulative(starts)
    return starts, costs


class Wakeups:
    """Future times at which a plugin wants a scheduling cycle (deduplicated heap)."""

    __slots__ = ("_heap", "_set")

    def __init__(self) -> None:
        self._heap: list[float] = []
        self._set: set[float] = set()

    def add(self, t_s: float) -> None:
        if math.isfinite(t_s) and t_s not in self._set:
            self._set.add(t_s)
            heapq.heappush(self._heap, t_s)

    def next_after(self, now_s: float) -> float | None:
        """Earliest wake-up strictly after ``now_s`` (older ones are dropped)."""
        heap = self._heap
        while heap and heap[0] <= now_s + EPS_S:
            self._set.discard(heapq.heappop(heap))
        return heap[0] if heap else None
