"""Synthetic hourly profiles (carbon, price, outside temperature) from a few statistics.

A profile is ``mean * (1 + diurnal + seasonal + noise)``:

- ``diurnal``: two harmonics of the hour of day (UTC), each ``(amplitude_frac, peak_hour)``;
- ``seasonal``: two harmonics of the day of year, each ``(amplitude_frac, peak_day)``;
- ``noise``: a seeded AR(1) process (``sigma_frac``, hourly ``phi``) standing for weather.

The bundled parameters (``energy/data/grid_profiles.yaml``) were fitted with
:func:`fit_profile` to the 2023 hourly data of each region (Electricity Maps carbon
intensity; day-ahead prices), so the default run needs no downloaded data while keeping each
region's annual mean, daily swing and seasonal swing. Temperatures use the same form with
additive amplitudes in degrees C (climate normals). Deterministic: the noise stream is seeded
from a CRC-32 of the region and quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gputwin.energy.grid import FloatArray
from gputwin.sim.rng import stable_hash

HOURS_PER_YEAR = 8760
_HOURS = np.arange(HOURS_PER_YEAR, dtype=np.float64)
_HOD = _HOURS % 24.0
_DOY = _HOURS / 24.0


@dataclass(frozen=True, slots=True)
class ProfileParams:
    """Shape of one hourly series (relative amplitudes; ``mean`` in the caller's unit)."""

    mean: float
    diurnal: tuple[tuple[float, float], ...] = ()  # (amplitude_frac, peak hour UTC) per harmonic
    seasonal: tuple[tuple[float, float], ...] = ()  # (amplitude_frac, peak day of year)
    sigma_frac: float = 0.0
    phi: float = 0.0


def _shape(p: ProfileParams) -> FloatArray:
    rel = np.zeros(HOURS_PER_YEAR)
    for k, (amp, peak) in enumerate(p.diurnal, start=1):
        rel += amp * np.cos(2.0 * math.pi * k * (_HOD - peak) / 24.0)
    for k, (amp, peak) in enumerate(p.seasonal, start=1):
        rel += amp * np.cos(2.0 * math.pi * k * (_DOY - peak) / 365.0)
    return rel


def _ar1(sigma: float, phi: float, seed_name: str) -> FloatArray:
    if sigma <= 0:
        return np.zeros(HOURS_PER_YEAR)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([stable_hash(seed_name)])))
    eps = rng.standard_normal(HOURS_PER_YEAR) * sigma * math.sqrt(max(0.0, 1.0 - phi * phi))
    out = np.empty(HOURS_PER_YEAR)
    prev = rng.standard_normal() * sigma
    for i in range(HOURS_PER_YEAR):  # 8760 steps: a few ms, done once per region
        prev = phi * prev + eps[i]
        out[i] = prev
    return out


def synthesize(p: ProfileParams, seed_name: str, *, floor: float | None = 0.0) -> FloatArray:
    """One year of hourly values; mean rescaled to exactly ``p.mean`` (before the floor)."""
    rel = _shape(p) + _ar1(p.sigma_frac, p.phi, seed_name)
    rel -= rel.mean()
    values = p.mean * (1.0 + rel)
    if floor is not None:
        values = np.maximum(values, floor)
    return values


#: Probability levels of a price profile's ``quantiles`` (its marginal distribution).
QUANTILE_LEVELS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                   0.9, 0.95, 0.975, 0.99, 0.995, 1.0)


def with_marginal(values: FloatArray, quantiles: tuple[float, ...], mean: float) -> FloatArray:
    """``values`` re-drawn from a published marginal distribution, keeping their order.

    Each hour keeps its rank (so the diurnal, seasonal and AR(1) timing of ``values`` stays)
    and takes the value at that rank of the piecewise-linear distribution whose quantiles
    at :data:`QUANTILE_LEVELS` are ``quantiles`` × ``mean``; the result is rescaled to the
    exact annual ``mean``. Heavy-tailed prices (ERCOT's scarcity spikes, Victoria's
    negative solar hours) keep their share of high and negative hours, which additive
    Gaussian noise around harmonics cannot do."""
    if len(quantiles) != len(QUANTILE_LEVELS):
        raise ValueError(f"expected {len(QUANTILE_LEVELS)} quantiles, got {len(quantiles)}")
    n = values.size
    u = (np.argsort(np.argsort(values, kind="stable"), kind="stable") + 0.5) / n
    out: FloatArray = np.interp(u, QUANTILE_LEVELS, quantiles) * mean
    got = float(out.mean())
    if got != 0.0 and mean != 0.0:
        out *= mean / got
    return out


def fit_quantiles(values: FloatArray) -> tuple[float, ...]:
    """Quantiles of one year of values at :data:`QUANTILE_LEVELS`, relative to its mean."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    return tuple(round(float(q) / mean, 4) for q in np.quantile(x, QUANTILE_LEVELS))


def synthesize_additive(p: ProfileParams, seed_name: str) -> FloatArray:
    """Like :func:`synthesize` with amplitudes in the series' own unit (temperatures)."""
    unit = ProfileParams(1.0, p.diurnal, p.seasonal, p.sigma_frac, p.phi)
    return p.mean + (synthesize(unit, seed_name, floor=None) - 1.0)


def fit_profile(values: FloatArray) -> ProfileParams:
    """Least-squares fit of two diurnal and two seasonal harmonics plus AR(1) residuals to
    one year of hourly values (relative to the mean)."""
    x = np.asarray(values, dtype=np.float64)[:HOURS_PER_YEAR]
    n = x.size
    mean = float(x.mean())
    rel = x / mean - 1.0 if mean != 0 else x - x.mean()
    hod, doy = _HOD[:n], _DOY[:n]
    cols = []
    for k in (1, 2):
        w = 2.0 * math.pi * k * hod / 24.0
        cols += [np.cos(w), np.sin(w)]
    for k in (1, 2):
        w = 2.0 * math.pi * k * doy / 365.0
        cols += [np.cos(w), np.sin(w)]
    design = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(design, rel, rcond=None)

    def harmonic(c: float, s: float, k: int, period: float) -> tuple[float, float]:
        amp = math.hypot(c, s)
        peak = (math.atan2(s, c) * period / (2.0 * math.pi * k)) % (period / k)
        return round(amp, 4), round(peak, 2)

    diurnal = tuple(harmonic(coef[2 * i], coef[2 * i + 1], i + 1, 24.0) for i in range(2))
    seasonal = tuple(harmonic(coef[4 + 2 * i], coef[5 + 2 * i], i + 1, 365.0) for i in range(2))
    resid = rel - design @ coef
    sigma = float(resid.std())
    phi = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if sigma > 0 else 0.0
    return ProfileParams(round(mean, 3), diurnal, seasonal, round(sigma, 4), round(phi, 4))
