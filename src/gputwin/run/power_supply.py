"""The site's power supply over a run: hourly facility energy → supply account → summary.

Cluster runs (:mod:`gputwin.run.energy_accounting`) and serving runs
(:mod:`gputwin.run.serving_energy`) hand the facility energy of each hour of the run (from
simulation time 0, hour bins) to :func:`supply_summary`, which matches it against the
``site.power_supply`` section (:func:`gputwin.energy.supply.supply_window`): on-site
generation, PPAs, the battery's dispatch and the grid up to the interconnection limit.
The summary reports location- and market-based carbon, the 24/7 CFE score, the energy
cost with contract prices, and the energy the interconnection could not deliver.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gputwin.energy.grid import HOUR_S, FloatArray, RegionGrid
from gputwin.energy.supply import supply_window
from gputwin.scenario.site import SiteConfig


def supply_summary(config: SiteConfig, grid: RegionGrid, facility_j: FloatArray, *,
                   compute_usd: float | None, energy_in_price: bool) -> dict[str, Any] | None:
    """The ``site.supply`` block of a run summary (``None`` without ``power_supply``).

    ``facility_j``: facility energy per hour of the run, bin ``k`` covering simulation
    time ``[k h, (k + 1) h)``; ``grid`` carries the site's start offset. ``cost_usd`` is
    the run's cost with the supply's energy cost (compute + energy for owned GPUs; a
    rental already pays for its energy, so the supply cost is then shown for reference).
    """
    ps = config.power_supply
    if ps is None:
        return None
    start_hour = math.floor(grid.carbon_g_per_j.offset_s / HOUR_S)
    supply = ps.to_supply()
    acct = supply_window(np.asarray(facility_j, dtype=np.float64), grid, supply,
                         start_hour=start_hour)
    t = acct.totals
    out: dict[str, Any] = {
        "interconnect_w": ps.interconnect,
        "battery_policy": None if ps.battery is None else ps.battery.policy,
        **t,
        "capacity_factors": supply.capacity_factors(grid.region),
    }
    out["cost_energy_usd"] = t["cost_total_usd"]
    out["cost_usd"] = (None if compute_usd is None else
                       compute_usd + (0.0 if energy_in_price else t["cost_total_usd"]))
    return out

