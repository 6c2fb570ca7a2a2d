"""Readers of the real 2023 grid CSVs and the synthetic profiles fitted to them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.energy.conftest import GRID_DIR, PRICE_DIR, needs_grid_data, write

from gputwin.energy.grid_readers import read_carbon_csv, read_price_csv
from gputwin.energy.profiles import (
    QUANTILE_LEVELS,
    ProfileParams,
    fit_profile,
    fit_quantiles,
    synthesize,
    with_marginal,
)
from gputwin.energy.regions import known_regions, region_grid, synthetic_region
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError, UnknownNameError

HEADER = ("Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
          "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage\n")


def _carbon_rows(n: int) -> str:
    return "".join(f"2023-01-{1 + h // 24:02d} {h % 24:02d}:00:00,X,X,X,{100 + h},{150 + h},1\n"
                   for h in range(n))


def test_carbon_reader_bad_number_names_file_and_line(tmp_path: Path) -> None:
    text = HEADER + _carbon_rows(3) + "2023-01-01 03:00:00,X,X,X,abc,1,1\n"
    with pytest.raises(InputError, match=r"carbon\.csv:5: direct intensity: expected a number"):
        read_carbon_csv(write(tmp_path, "carbon.csv", text))


def test_carbon_reader_bad_time_and_missing_column(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r":2: expected a time"):
        read_carbon_csv(write(tmp_path, "c.csv", HEADER + "yesterday,X,X,X,1,1,1\n"))
    with pytest.raises(InputError, match="missing column"):
        read_carbon_csv(write(tmp_path, "d.csv", "Datetime (UTC),foo\n2023-01-01,1\n"))


def test_grid_readers_refuse_a_row_wider_than_the_header(tmp_path: Path) -> None:
    # was: a price of 1 (EUR 1,092.40 split at its thousands separator) read silently
    with pytest.raises(InputError, match=r"p\.csv:2: expected 2 columns as in the header, "
                                         r"got 3"):
        read_price_csv(write(tmp_path, "p.csv", "Datetime,Price (EUR/MWh)\n"
                                                "2023-01-01 00:00:00,1,092.40\n"))
    with pytest.raises(InputError, match=r"c\.csv:2: expected 7 columns as in the header, "
                                         r"got 8"):
        read_carbon_csv(write(tmp_path, "c.csv",
                              HEADER + "2023-01-01 00:00:00,X,X,X,1,100,150,1\n"))


def test_reader_refuses_a_mostly_empty_year(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="hours of 2023 have data"):
        read_carbon_csv(write(tmp_path, "c.csv", HEADER + _carbon_rows(48)))


def test_price_reader_converts_currency_and_rejects_unknown(tmp_path: Path) -> None:
    rows = "".join(f"2023-{1 + d // 28:02d}-{1 + d % 28:02d} {h:02d}:00:00,92.4\n"
                   for d in range(365) for h in range(24) if 1 + d // 28 <= 12)
    data = read_price_csv(write(tmp_path, "p.csv", "Datetime,Price (EUR/MWh)\n" + rows))
    assert data.currency == "EUR"
    assert data.usd_per_mwh.mean() == pytest.approx(92.4 / 0.924)
    with pytest.raises(UnknownNameError, match="currency"):
        read_price_csv(write(tmp_path, "q.csv", "Datetime,Price (XYZ/MWh)\n" + rows))


def test_fit_recovers_a_known_profile() -> None:
    truth = ProfileParams(200.0, ((0.3, 13.0), (0.05, 4.0)), ((0.2, 30.0),), 0.0, 0.0)
    fitted = fit_profile(synthesize(truth, "t", floor=None))
    assert fitted.mean == pytest.approx(200.0, rel=1e-3)
    assert fitted.diurnal[0] == pytest.approx((0.3, 13.0), abs=0.01)
    assert fitted.seasonal[0] == pytest.approx((0.2, 30.0), abs=0.5)


def test_synthetic_regions_keep_their_annual_mean_and_are_deterministic() -> None:
    for region in known_regions():
        grid = synthetic_region(region)
        target = default_tables().region(region).carbon.mean_g_per_kwh
        assert grid.carbon_g_per_j.mean * 3.6e6 == pytest.approx(target, rel=0.03), region
        assert np.all(grid.carbon_g_per_j.values >= 0)
    synthetic_region.cache_clear()
    assert np.array_equal(synthetic_region("GB").carbon_g_per_j.values,
                          synthetic_region("GB").carbon_g_per_j.values)


@needs_grid_data
def test_real_files_read_as_a_full_year_with_sensible_means() -> None:
    gb = read_carbon_csv(GRID_DIR / "GB_2023_hourly.csv")
    assert gb.year == 2023 and gb.direct_g_per_kwh.size == 8760
    assert 100 < gb.direct_g_per_kwh.mean() < 160  # GB 2023: ~129 g/kWh (Electricity Maps)
    assert np.all(gb.lca_g_per_kwh >= gb.direct_g_per_kwh)
    caiso = read_price_csv(PRICE_DIR / "US-CAL-CISO_electricity_prices_2023.csv")
    assert caiso.usd_per_mwh.size == 8760 and caiso.filled_hours == 0


@needs_grid_data
def test_bundled_profiles_match_a_refit_of_the_real_data() -> None:
    for region in ("GB", "SG", "US-CAL-CISO", "DE-LU"):
        real = region_grid(region, GRID_DIR.parents[1]).carbon_g_per_j.values * 3.6e6
        fitted = fit_profile(real)
        bundled = default_tables().region(region).carbon
        assert fitted.mean == pytest.approx(bundled.mean_g_per_kwh, rel=0.01)
        assert fitted.diurnal[0][0] == pytest.approx(bundled.diurnal[0][0], abs=0.01)


def test_with_marginal_keeps_the_order_and_the_mean_and_takes_the_quantiles() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=8760)
    quantiles = tuple(float(q) for q in np.linspace(-0.5, 4.0, len(QUANTILE_LEVELS)))
    out = with_marginal(base, quantiles, 50.0)
    assert out.mean() == pytest.approx(50.0)
    assert (np.argsort(out, kind="stable") == np.argsort(base, kind="stable")).all()
    scale = 50.0 / (np.interp((np.arange(8760) + 0.5) / 8760, QUANTILE_LEVELS, quantiles)
                    * 50.0).mean()
    assert np.median(out) == pytest.approx(np.interp(0.5, QUANTILE_LEVELS, quantiles)
                                           * 50.0 * scale, rel=1e-3)
    with pytest.raises(ValueError, match="quantiles"):
        with_marginal(base, quantiles[:-1], 50.0)


def test_synthetic_prices_keep_the_published_share_of_negative_hours() -> None:
    """ERCOT's 2023 prices are right-skewed (median $22.6, mean $55.9, one negative hour);
    Victoria's go below zero in ~23 % of hours (rooftop solar). The synthetic year follows
    the bundled quantiles, not symmetric noise around the harmonics."""
    ercot = synthetic_region("US-TEX-ERCO").price_usd_per_j.values * 3.6e9
    vic = synthetic_region("AU-VIC").price_usd_per_j.values * 3.6e9
    assert (ercot < 0).mean() < 0.001
    assert np.median(ercot) == pytest.approx(22.6, rel=0.1)
    assert 0.18 < (vic < 0).mean() < 0.30
    for region in known_regions():
        p = default_tables().region(region).price
        series = synthetic_region(region).price_usd_per_j.values * 3.6e9
        assert series.mean() == pytest.approx(p.mean_usd_per_mwh, rel=1e-9)


@needs_grid_data
def test_bundled_price_quantiles_match_the_real_data() -> None:
    for region in known_regions():
        real = region_grid(region, GRID_DIR.parents[1]).price_usd_per_j.values
        assert fit_quantiles(real) == pytest.approx(
            tuple(default_tables().region(region).price.quantiles), abs=1e-3), region
        syn = synthetic_region(region).price_usd_per_j.values
        assert abs((syn < 0).mean() - (real < 0).mean()) < 0.03, region
