"""The grid carbon-free shares of ``energy/data/power_supply.yaml`` (``grid_low_carbon``).

Run: ``python scripts/grid_low_carbon_share.py`` (reads ``$GPUTWIN_DATA_DIR`` or
``../shared/data`` ``grid/carbon-2023``). Prints, per zone, the annual mean of the hourly
'Low Carbon Percentage' (the table's value) and how well the one-parameter hourly model
``s(h) = 1 - CI(h) / F``, ``F = mean CI / (1 - mean share)``, follows the hourly data (RMSE).
Nothing is rewritten: copy the shares into the table by hand.
"""

from __future__ import annotations

import csv
import sys

import numpy as np

from gputwin.energy.tables import default_tables
from gputwin.scenario.paths import data_dir

CI_COLUMN = "Carbon Intensity gCO₂eq/kWh (direct)"
SHARE_COLUMN = "Low Carbon Percentage"


def main() -> int:
    root = data_dir() / "grid" / "carbon-2023"
    if not root.is_dir():
        print(f"no {root} (set GPUTWIN_DATA_DIR)", file=sys.stderr)
        return 2
    for region in sorted(default_tables().regions):
        with open(root / f"{region}_2023_hourly.csv", encoding="utf-8") as f:
            rows = [(r[CI_COLUMN], r[SHARE_COLUMN]) for r in csv.DictReader(f)]
        data = np.array([(float(c), float(s) / 100) for c, s in rows if c and s])
        ci, share = data[:, 0], data[:, 1]
        fossil = ci.mean() / (1.0 - share.mean())
        rmse = float(np.sqrt(np.mean((np.clip(1 - ci / fossil, 0, 1) - share) ** 2)))
        print(f"{region}: {share.mean():.3f}  (F {fossil:.0f} g/kWh, hourly RMSE {rmse:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
