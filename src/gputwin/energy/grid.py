"""Hourly time series of the grid (carbon intensity, price) and forecasts of them.

A :class:`GridSeries` is a periodic, piecewise-constant series sampled every ``step_s``
(an hour): value ``values[i]`` holds on ``[i*step, (i+1)*step)``. Time ``t_s`` is simulation
time; ``offset_s`` says where in the series simulation time 0 falls (e.g. the start date
within the year), and a series wraps around at its end (a "typical year").
Lookups are O(1): ``at`` indexes the array, ``integral``/``mean_over`` use a prefix sum.

Units: SI inside, per joule -- carbon in g CO2e/J, price in USD/J (``J_PER_KWH`` converts).

Forecasts answer "what will the series be over the next H hours, as seen at ``now_s``":
:class:`PerfectForecast`, :class:`PersistenceForecast` (same hour yesterday) and
:class:`NoisyForecast` (truth times seeded noise whose spread grows with the horizon).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gputwin.errors import InputError, check_number
from gputwin.sim.rng import stable_hash

J_PER_KWH = 3.6e6
J_PER_MWH = 3.6e9
HOUR_S = 3600.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class GridSeries:
    """A periodic piecewise-constant series. ``name`` and ``unit`` are for messages only."""

    values: FloatArray
    step_s: float = HOUR_S
    offset_s: float = 0.0
    name: str = ""
    unit: str = ""
    _prefix: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vals = np.ascontiguousarray(self.values, dtype=np.float64)
        if vals.ndim != 1 or vals.size == 0:
            raise InputError(f"grid series {self.name!r} needs a non-empty 1-D array")
        if not np.all(np.isfinite(vals)):
            raise InputError(f"grid series {self.name!r} has non-finite values")
        if not self.step_s > 0:
            raise InputError(f"grid series {self.name!r}: step must be positive")
        object.__setattr__(self, "values", vals)
        prefix = np.concatenate(([0.0], np.cumsum(vals) * self.step_s))
        object.__setattr__(self, "_prefix", prefix)

    @property
    def period_s(self) -> float:
        return self.values.size * self.step_s

    @property
    def mean(self) -> float:
        """Mean over one period."""
        return float(self._prefix[-1] / self.period_s)

    def with_offset(self, offset_s: float) -> GridSeries:
        """The same data with simulation time 0 at ``offset_s`` into the series."""
        return GridSeries(self.values, self.step_s, offset_s, self.name, self.unit)

    def scaled(self, factor: float, *, unit: str | None = None) -> GridSeries:
        return GridSeries(self.values * factor, self.step_s, self.offset_s, self.name,
                          self.unit if unit is None else unit)

    def index(self, t_s: float) -> int:
        """Index of the sample holding at simulation time ``t_s``."""
        return math.floor((t_s + self.offset_s) / self.step_s) % self.values.size

    def at(self, t_s: float) -> float:
        """Value at simulation time ``t_s``."""
        return float(self.values[self.index(t_s)])

    def _cumulative(self, u: float) -> float:
        """Integral from series time 0 to series time ``u`` (any real ``u``)."""
        n = self.values.size
        periods = math.floor(u / self.period_s)
        rem = u - periods * self.period_s
        i = min(int(rem // self.step_s), n - 1)
        part = self._prefix[i] + self.values[i] * (rem - i * self.step_s)
        return float(periods * self._prefix[-1] + part)

    def integral(self, t0_s: float, t1_s: float) -> float:
        """Integral of the series over ``[t0, t1]`` (value x seconds); O(1)."""
        if t1_s < t0_s:
            raise ValueError(f"interval end {t1_s} before start {t0_s}")
        return self._cumulative(t1_s + self.offset_s) - self._cumulative(t0_s + self.offset_s)

    def mean_over(self, t0_s: float, t1_s: float) -> float:
        """Time-average over ``[t0, t1]``; the point value when the interval is empty."""
        if t1_s <= t0_s:
            return self.at(t0_s)
        return self.integral(t0_s, t1_s) / (t1_s - t0_s)

    def window(self, t0_s: float, num_steps: int) -> FloatArray:
        """``num_steps`` consecutive samples starting with the one holding at ``t0``."""
        idx = (self.index(t0_s) + np.arange(num_steps)) % self.values.size
        return np.asarray(self.values[idx], dtype=np.float64)

    def product(self, other: GridSeries, name: str = "") -> GridSeries:
        """Element-wise product of two aligned series (same step, length and offset)."""
        if (other.values.size != self.values.size or other.step_s != self.step_s
                or other.offset_s != self.offset_s):
            raise InputError(f"cannot multiply misaligned series {self.name!r} and "
                             f"{other.name!r}")
        return GridSeries(self.values * other.values, self.step_s, self.offset_s,
                          name or f"{self.name}*{other.name}")


def constant_series(value: float, *, name: str = "", unit: str = "",
                    num_steps: int = 8760) -> GridSeries:
    """A flat series (e.g. a fixed carbon intensity given by the user)."""
    return GridSeries(np.full(num_steps, float(value)), name=name, unit=unit)


class Forecast(Protocol):
    """``predict(now_s, horizon_s)`` -> one value per step covering ``[now, now+horizon)``."""

    def predict(self, now_s: float, horizon_s: float) -> FloatArray: ...


def _num_steps(series: GridSeries, horizon_s: float) -> int:
    check_number(horizon_s, "forecast horizon_s", 0)
    return max(1, math.ceil(horizon_s / series.step_s))


@dataclass(frozen=True, slots=True)
class PerfectForecast:
    """Knows the future exactly (an upper bound for any carbon-aware policy)."""

    series: GridSeries

    def predict(self, now_s: float, horizon_s: float) -> FloatArray:
        return self.series.window(now_s, _num_steps(self.series, horizon_s))


@dataclass(frozen=True, slots=True)
class PersistenceForecast:
    """Tomorrow looks like today: the value one ``lag_s`` (default a day) earlier."""

    series: GridSeries
    lag_s: float = 86400.0

    def predict(self, now_s: float, horizon_s: float) -> FloatArray:
        n = _num_steps(self.series, horizon_s)
        lag_steps = max(1, round(self.lag_s / self.series.step_s))
        # step k ahead is predicted by the latest sample known at `now` with the same phase
        k = np.arange(n)
        back = lag_steps * (k // lag_steps + 1)
        idx = (self.series.index(now_s) + k - back) % self.series.values.size
        return np.asarray(self.series.values[idx], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class NoisyForecast:
    """Truth times ``1 + e``; ``e ~ N(0, sigma)`` with ``sigma = rel_error_per_day *
    sqrt(k / 24)`` at ``k`` steps ahead (capped at ``max_rel_error``). Seeded: the noise for a
    (seed, issue step) pair is always the same, so repeated queries agree."""

    series: GridSeries
    rel_error_per_day: float = 0.10
    max_rel_error: float = 0.5
    seed: int = 0

    def predict(self, now_s: float, horizon_s: float) -> FloatArray:
        n = _num_steps(self.series, horizon_s)
        truth = self.series.window(now_s, n)
        issue = self.series.index(now_s)
        ss = np.random.SeedSequence([self.seed, stable_hash(self.series.name), issue])
        z = np.random.Generator(np.random.PCG64(ss)).standard_normal(n)
        k = np.arange(1, n + 1, dtype=np.float64)
        sigma = np.minimum(self.rel_error_per_day * np.sqrt(k / 24.0), self.max_rel_error)
        return np.asarray(truth * (1.0 + sigma * z), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class RegionGrid:
    """Everything the grid says about one region: carbon (direct and life-cycle), price."""

    region: str
    carbon_g_per_j: GridSeries
    carbon_lca_g_per_j: GridSeries
    price_usd_per_j: GridSeries
    water_l_per_j: float = 0.0  # water consumed upstream per joule generated (optional)
    origin: str = "synthetic"

    def with_offset(self, offset_s: float) -> RegionGrid:
        return RegionGrid(self.region, self.carbon_g_per_j.with_offset(offset_s),
                          self.carbon_lca_g_per_j.with_offset(offset_s),
                          self.price_usd_per_j.with_offset(offset_s), self.water_l_per_j,
                          self.origin)
