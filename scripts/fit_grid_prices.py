"""Fit the price quantiles of ``energy/data/grid_profiles.yaml`` to the real 2023 data.

Run: ``python scripts/fit_grid_prices.py`` (reads ``$GPUTWIN_DATA_DIR`` or ``../shared/data``
``grid/price-2023``; rewrites the ``quantiles: [...]`` of every region's ``price:`` line in
place). The quantiles are the hourly day-ahead prices at ``profiles.QUANTILE_LEVELS`` over
their annual mean; the synthetic year keeps the harmonics' and AR(1) noise's timing and
draws its values from this distribution (``profiles.with_marginal``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from gputwin.energy.grid_readers import load_real_region
from gputwin.energy.profiles import fit_quantiles
from gputwin.energy.tables import DATA_DIR, default_tables
from gputwin.scenario.paths import data_dir

PROFILE = DATA_DIR / "grid_profiles.yaml"


def main() -> int:
    root = data_dir()
    if not (root / "grid").is_dir():
        print(f"no grid/ data under {root} (set GPUTWIN_DATA_DIR)", file=sys.stderr)
        return 2
    text = PROFILE.read_text()
    for region in sorted(default_tables().regions):
        price = np.asarray(load_real_region(region, root).price_usd_per_j.values)
        q = ", ".join(f"{v:g}" for v in fit_quantiles(price))
        pattern = re.compile(rf"(^  {re.escape(region)}:\n(?:    .*\n)*?    price: \{{.*?)"
                             r"(, quantiles: \[[^\]]*\])?(\}\n)", re.M)
        text, n = pattern.subn(rf"\1, quantiles: [{q}]\3", text, count=1)
        if n != 1:
            print(f"{region}: no price line found", file=sys.stderr)
            return 1
        print(f"{region}: {q}")
    Path(PROFILE).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
