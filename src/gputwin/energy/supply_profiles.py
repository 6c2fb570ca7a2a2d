"""Hourly per-unit generation profiles (output / nameplate, in [0, 1]) of a typical year.

- **solar**: the sine of the sun's elevation at the region's reference city (declination
  ``23.44° sin(2π(284 + day)/365)``, hour angle from local time ``UTC + utc_offset``), zero
  at night, scaled so the annual mean equals the technology's capacity factor;
- **wind**: a winter-peaking seasonal term, a small night-peaking diurnal term and seeded
  AR(1) weather noise (hourly phi 0.97), scaled likewise;
- **firm** sources: the capacity factor every hour (derated constant output).

:func:`grid_clean_share` gives the grid's hourly carbon-free share from its carbon
intensity: ``s(h) = 1 - CI(h) / F``, with ``F = mean CI / (1 - mean share)`` the intensity
of the region's fossil generation (``grid_low_carbon`` in ``power_supply.yaml``).

Shapes are simple and documented; the annual energy is the published capacity factor's:
the region's own where ``power_supply.yaml`` has one (``regional_capacity_factors``),
else the technology's US figure.
Deterministic: the wind noise is seeded from a CRC-32 of the region.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from gputwin.energy.grid import J_PER_KWH, FloatArray
from gputwin.energy.profiles import HOURS_PER_YEAR
from gputwin.energy.supply_tables import supply_table
from gputwin.energy.tables import default_tables
from gputwin.sim.rng import stable_hash

_HOURS = np.arange(HOURS_PER_YEAR, dtype=np.float64)


def _scale_to_mean(raw: FloatArray, mean: float) -> FloatArray:
    """Scale a non-negative shape to ``mean``, clipping at 1 (nameplate) and rescaling the
    unclipped hours until the mean holds (a few passes)."""
    out = raw * (mean / raw.mean())
    for _ in range(20):
        out = np.minimum(out, 1.0)
        short = mean - out.mean()
        free = out < 1.0
        if short <= 1e-12 or not free.any():
            break
        out[free] *= 1.0 + short * out.size / out[free].sum()
    result: FloatArray = out
    return result


def solar_shape(region: str) -> FloatArray:
    lat = math.radians(supply_table().latitude(region))
    offset_h = default_tables().region(region).climate.utc_offset_h
    local_h = (_HOURS + 0.5 + offset_h) % 24.0
    day = np.floor((_HOURS + offset_h) / 24.0) % 365.0
    dec = np.radians(23.44) * np.sin(2 * np.pi * (284.0 + day) / 365.0)
    angle = np.radians(15.0 * (local_h - 12.0))
    sin_el = np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(angle)
    shape: FloatArray = np.maximum(sin_el, 0.0)
    return shape


def wind_shape(region: str) -> FloatArray:
    clim = default_tables().region(region).climate
    coldest = (clim.warmest_day + 182.5) % 365.0
    offset_h = clim.utc_offset_h
    seasonal = 0.25 * np.cos(2 * np.pi * (_HOURS / 24.0 - coldest) / 365.0)
    diurnal = 0.10 * np.cos(2 * np.pi * ((_HOURS + offset_h) % 24.0 - 2.0) / 24.0)
    rng = np.random.default_rng(stable_hash(f"{region}/wind"))
    shocks = rng.normal(0.0, 0.5 * math.sqrt(1 - 0.97**2), HOURS_PER_YEAR)
    noise = np.empty(HOURS_PER_YEAR)
    acc = 0.0
    for i, s in enumerate(shocks):
        acc = 0.97 * acc + s
        noise[i] = acc
    return np.maximum(1.0 + seasonal + diurnal + noise, 0.0)


@functools.cache
def per_unit_profile(tech: str, region: str) -> FloatArray:
    """Hourly output per watt of nameplate of ``tech`` in ``region`` (read-only array)."""
    table = supply_table()
    t, cf = table.tech(tech), table.capacity_factor(tech, region)
    if t.kind == "firm":
        out = np.full(HOURS_PER_YEAR, cf)
    elif tech.startswith("solar"):
        out = _scale_to_mean(solar_shape(region), cf)
    else:
        out = _scale_to_mean(wind_shape(region), cf)
    out.setflags(write=False)
    return out


def grid_clean_share(region: str, carbon_g_per_j: FloatArray) -> FloatArray:
    """Hourly carbon-free share of ``region``'s grid, in [0, 1], from its carbon intensity
    (g/J, any length): the share that leaves the fossil part's intensity ``F`` (module
    docstring) diluted to ``CI(h)``. Zero everywhere for a region without a share."""
    mean_share = supply_table().grid_low_carbon_share(region)
    ci = np.asarray(carbon_g_per_j, dtype=np.float64)
    if mean_share is None or mean_share >= 1.0:
        return np.zeros_like(ci) if mean_share is None else np.ones_like(ci)
    mean_ci = default_tables().region(region).carbon.mean_g_per_kwh / J_PER_KWH
    fossil_g_per_j = mean_ci / (1.0 - mean_share)
    share: FloatArray = np.clip(1.0 - ci / fossil_g_per_j, 0.0, 1.0)
    return share
