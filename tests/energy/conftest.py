"""Shared helpers for the energy tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.scenario.paths import data_dir

GRID_DIR = data_dir() / "grid" / "carbon-2023"
PRICE_DIR = data_dir() / "grid" / "price-2023"

needs_grid_data = pytest.mark.skipif(
    not (GRID_DIR / "GB_2023_hourly.csv").exists() or not PRICE_DIR.exists(),
    reason=f"real 2023 grid data not found under {data_dir()} (set GPUTWIN_DATA_DIR)",
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
