"""Regional grids and climates: the bundled synthetic default or the real 2023 data.

``region_grid("GB")`` builds one synthetic year (``profiles.synthesize``) from the fitted
parameters in ``grid_profiles.yaml``; ``region_grid("GB", data_dir=...)`` reads the real
CSVs instead. ``outside_temperature_c("GB")`` is the synthetic hourly temperature of the
region's reference city. All results are cached per process (building one is ~10 ms).
"""

from __future__ import annotations

import functools
from pathlib import Path

from gputwin.energy.grid import J_PER_KWH, J_PER_MWH, GridSeries, RegionGrid
from gputwin.energy.profiles import (
    ProfileParams,
    synthesize,
    synthesize_additive,
    with_marginal,
)
from gputwin.energy.tables import Harmonics, default_tables

#: Cap on the relative noise of synthetic prices (real spikes are not Gaussian).
MAX_PRICE_SIGMA_FRAC = 0.5


def _params(mean: float, h: Harmonics, *, max_sigma: float | None = None) -> ProfileParams:
    sigma = h.sigma_frac if max_sigma is None else min(h.sigma_frac, max_sigma)
    return ProfileParams(mean, tuple(h.diurnal), tuple(h.seasonal), sigma, h.phi)


def known_regions() -> list[str]:
    return sorted(default_tables().regions)


@functools.cache
def synthetic_region(region: str) -> RegionGrid:
    """One synthetic year for ``region`` (raises UnknownNameError with suggestions)."""
    prof = default_tables().region(region)
    c = prof.carbon
    direct = synthesize(_params(c.mean_g_per_kwh, c), f"{region}/carbon")
    p = prof.price
    price = synthesize(_params(p.mean_usd_per_mwh, p, max_sigma=MAX_PRICE_SIGMA_FRAC),
                       f"{region}/price", floor=None)
    if p.quantiles:  # the published marginal (spikes, negative hours) in the fitted timing
        price = with_marginal(price, tuple(p.quantiles), p.mean_usd_per_mwh)
    return RegionGrid(
        region=region,
        carbon_g_per_j=GridSeries(direct / J_PER_KWH, name=f"{region}/carbon", unit="g/J"),
        carbon_lca_g_per_j=GridSeries(direct * c.lca_ratio / J_PER_KWH,
                                      name=f"{region}/carbon-lca", unit="g/J"),
        price_usd_per_j=GridSeries(price / J_PER_MWH, name=f"{region}/price", unit="USD/J"),
        water_l_per_j=prof.grid_water_l_per_kwh / J_PER_KWH,
        origin="synthetic (fitted to 2023 data, energy/data/grid_profiles.yaml)",
    )


@functools.cache
def _real_region(region: str, data_dir: str) -> RegionGrid:
    from gputwin.energy.grid_readers import load_real_region

    return load_real_region(region, Path(data_dir))


def region_grid(region: str, data_dir: Path | None = None) -> RegionGrid:
    """The region's grid: real 2023 CSVs under ``data_dir`` if given, else synthetic."""
    if data_dir is None:
        return synthetic_region(region)
    default_tables().region(region)  # unknown names fail with suggestions first
    return _real_region(region, str(Path(data_dir).resolve()))


@functools.cache
def outside_temperature_c(region: str) -> GridSeries:
    """Hourly outside temperature (deg C, UTC hours) of the region's reference city."""
    cl = default_tables().region(region).climate
    peak_hour_utc = (15.0 - cl.utc_offset_h) % 24.0  # daily maximum ~15:00 local time
    params = ProfileParams(cl.mean_c, ((cl.diurnal_amp_c, peak_hour_utc),),
                           ((cl.seasonal_amp_c, cl.warmest_day),), 1.5, 0.95)
    return GridSeries(synthesize_additive(params, f"{region}/temperature"),
                      name=f"{region}/temperature", unit="degC")
