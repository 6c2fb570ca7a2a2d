"""Readers for real grid data: hourly carbon intensity and day-ahead prices (one year).

Formats, as published (see ``../shared/data/SOURCES.md``):

- carbon (Electricity Maps layout): ``Datetime (UTC)``, ``Carbon Intensity gCO₂eq/kWh
  (direct)``, ``Carbon Intensity gCO₂eq/kWh (LCA)``, ... ; columns found by header name.
- price: ``Datetime,Price (<CUR>/MWh)``; the currency is read from the header and converted
  to USD with fixed 2023 average rates (``energy/data/fx_2023.yaml``, IRS yearly averages).

Timestamps with a UTC offset are converted to UTC; naive ones are taken as UTC. Rows are
binned to the hour of the year that most rows fall in: rows outside it are dropped,
duplicates averaged, gaps filled by linear interpolation. Fewer than 90 % of the hours
present, a bad number or an unparsable time raises :class:`InputError` with file and line.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gputwin.energy.grid import J_PER_KWH, J_PER_MWH, FloatArray, GridSeries, RegionGrid
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError, UnknownNameError
from gputwin.textio import check_row_width, open_text

_CARBON_DIRECT = "carbon intensity gco₂eq/kwh (direct)"
_CARBON_LCA = "carbon intensity gco₂eq/kwh (lca)"
_PRICE = re.compile(r"^\s*price\s*\((?P<cur>[^/()]+)/\s*mwh\s*\)\s*$", re.IGNORECASE)
MIN_COVERAGE_FRAC = 0.9


@dataclass(frozen=True, slots=True, eq=False)
class CarbonData:
    """One year of hourly carbon intensity (g CO2e/kWh, as published) for a zone."""

    path: str
    year: int
    direct_g_per_kwh: FloatArray
    lca_g_per_kwh: FloatArray
    filled_hours: int


@dataclass(frozen=True, slots=True, eq=False)
class PriceData:
    """One year of hourly day-ahead prices converted to USD/MWh."""

    path: str
    year: int
    currency: str
    usd_per_mwh: FloatArray
    filled_hours: int


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with open_text(path) as fh:
        yield from enumerate(csv.reader(fh), start=1)


def _parse_time(text: str, where: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"expected a time such as '2023-01-01 00:00:00', got {text!r}",
                         where=where) from None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def _parse_float(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{column}: expected a number, got {text!r}", where=where) from None
    if not np.isfinite(value):
        raise InputError(f"{column}: expected a finite number, got {text!r}", where=where)
    return value


def _bin_hourly(times: list[datetime], columns: list[list[float]],
                path: Path) -> tuple[int, list[FloatArray], int]:
    """Bin rows into the hours of the dominant year; returns (year, series, filled hours)."""
    if not times:
        raise InputError("no data rows", where=str(path))
    year = Counter(t.year for t in times).most_common(1)[0][0]
    start = datetime(year, 1, 1)
    num_hours = int((datetime(year + 1, 1, 1) - start).total_seconds() // 3600)
    idx = np.array([int((t - start).total_seconds() // 3600) for t in times])
    keep = (idx >= 0) & (idx < num_hours)
    counts = np.bincount(idx[keep], minlength=num_hours)
    present = counts > 0
    if present.sum() < MIN_COVERAGE_FRAC * num_hours:
        raise InputError(f"only {int(present.sum())} of the {num_hours} hours of {year} have "
                         f"data (need {MIN_COVERAGE_FRAC:.0%})", where=str(path))
    hours = np.arange(num_hours)
    out: list[FloatArray] = []
    for col in columns:
        sums = np.bincount(idx[keep], weights=np.asarray(col)[keep], minlength=num_hours)
        mean = np.divide(sums, counts, out=np.zeros(num_hours), where=present)
        out.append(np.interp(hours, hours[present], mean[present]))
    return year, out, int(num_hours - present.sum())


def read_carbon_csv(path: str | Path) -> CarbonData:
    """Read an Electricity Maps hourly CSV. Raises :class:`InputError` (file:line)."""
    p = Path(path)
    times: list[datetime] = []
    direct: list[float] = []
    lca: list[float] = []
    cols: dict[str, int] = {}
    width = 0
    for line, row in _rows(p):
        where = f"{p}:{line}"
        if line == 1:
            width = len(row)
            cols = {name.strip().lower(): i for i, name in enumerate(row)}
            need = ("datetime (utc)", _CARBON_DIRECT, _CARBON_LCA)
            missing = [n for n in need if n not in cols]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)} (Electricity Maps "
                                 "layout expected)", where=where)
            continue
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(cols.values()):
            raise InputError(f"expected {len(cols)} columns, got {len(row)}", where=where)
        check_row_width(row, width, where)
        times.append(_parse_time(row[cols["datetime (utc)"]], where))
        direct.append(_parse_float(row[cols[_CARBON_DIRECT]], "direct intensity", where))
        lca.append(_parse_float(row[cols[_CARBON_LCA]], "LCA intensity", where))
    year, (d, lc), filled = _bin_hourly(times, [direct, lca], p)
    return CarbonData(str(p), year, d, lc, filled)


def read_price_csv(path: str | Path) -> PriceData:
    """Read a ``Datetime,Price (<CUR>/MWh)`` CSV and convert to USD/MWh."""
    p = Path(path)
    fx = default_tables().fx_per_usd
    times: list[datetime] = []
    prices: list[float] = []
    currency = ""
    rate = 1.0
    width = 0
    for line, row in _rows(p):
        where = f"{p}:{line}"
        if line == 1:
            width = len(row)
            m = _PRICE.match(row[1]) if len(row) >= 2 else None
            if m is None:
                raise InputError("expected header 'Datetime,Price (<CUR>/MWh)'", where=where)
            currency = m.group("cur").strip().upper()
            if currency not in fx:
                raise UnknownNameError("currency", currency, list(fx), where=where)
            rate = fx[currency]
            continue
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            raise InputError(f"expected 2 columns, got {len(row)}", where=where)
        check_row_width(row, width, where)
        times.append(_parse_time(row[0], where))
        prices.append(_parse_float(row[1], "price", where) / rate)
    year, (usd,), filled = _bin_hourly(times, [prices], p)
    return PriceData(str(p), year, currency, usd, filled)


def carbon_path(data_dir: Path, region: str) -> Path:
    return data_dir / "grid" / "carbon-2023" / f"{region}_2023_hourly.csv"


def price_path(data_dir: Path, market: str) -> Path:
    return data_dir / "grid" / "price-2023" / f"{market}_electricity_prices_2023.csv"


def load_real_region(region: str, data_dir: Path) -> RegionGrid:
    """A :class:`RegionGrid` from the real 2023 CSVs under ``data_dir`` (``grid/...``).
    The price market of a region is named in ``grid_profiles.yaml``. Raises InputError."""
    tables = default_tables()
    profile = tables.region(region)
    carbon = read_carbon_csv(carbon_path(data_dir, region))
    price = read_price_csv(price_path(data_dir, profile.price.market))
    n = min(carbon.direct_g_per_kwh.size, price.usd_per_mwh.size)
    return RegionGrid(
        region=region,
        carbon_g_per_j=GridSeries(carbon.direct_g_per_kwh[:n] / J_PER_KWH,
                                  name=f"{region}/carbon", unit="g/J"),
        carbon_lca_g_per_j=GridSeries(carbon.lca_g_per_kwh[:n] / J_PER_KWH,
                                      name=f"{region}/carbon-lca", unit="g/J"),
        price_usd_per_j=GridSeries(price.usd_per_mwh[:n] / J_PER_MWH,
                                   name=f"{region}/price", unit="USD/J"),
        water_l_per_j=profile.grid_water_l_per_kwh / J_PER_KWH,
        origin=f"real 2023 data ({carbon.path}; {price.path})",
    )
