"""Rent vs own for a training run of a given size (GPU-hours on one accelerator type).

- **rent**: every price book listing, ``GPU-hours x $/GPU-hour`` (the provider pays power);
- **own**: an owned fleet pays its fixed costs (capital, facility, maintenance, staff) every
  wall-clock hour, busy or idle, but its power bill only at the draw of each hour: a useful
  (busy) GPU-hour costs ``fixed / u + busy power + idle power x (1 - u) / u``, where ``u``
  (``utilisation_frac``) is the share of the fleet's hours doing useful work. The busy rate is
  taken at training activity (power near TDP), the idle one at activity 0.

``break_even_utilisation_frac`` of a rental at ``r`` $/GPU-h solves own(u) = r:
``u = (fixed + idle power) / (r - busy power + idle power)``: the fleet utilisation above
which owning is cheaper than that rental (``None`` above 1).
"""

from __future__ import annotations

from typing import Any

from gputwin.economics.tco import HOURS_PER_YEAR, OwnedCost, rental_prices
from gputwin.errors import check_number


def _power_usd_per_hour(cost: OwnedCost) -> float:
    return cost.usd_per_year["power"] / HOURS_PER_YEAR


def owned_usd_per_useful_gpu_hour(busy: OwnedCost, idle: OwnedCost | None,
                                  utilisation_frac: float) -> float:
    """An owned GPU-hour of useful work at fleet utilisation ``utilisation_frac`` (module
    docstring); ``idle`` None: idle hours draw the busy power (an upper bound)."""
    busy_w = _power_usd_per_hour(busy)
    idle_w = busy_w if idle is None else _power_usd_per_hour(idle)
    fixed = busy.usd_per_gpu_hour - busy_w
    u = utilisation_frac
    return fixed / u + busy_w + idle_w * (1.0 - u) / u


def training_options(owned: OwnedCost, gpu_hours: float, utilisation_frac: float = 0.8,
                     idle: OwnedCost | None = None) -> list[dict[str, Any]]:
    """Options sorted by cost; ``owned`` at training activity, ``idle`` the same fleet at
    activity 0 (its power item is the idle bill). Raises :class:`InputError` on
    non-positive inputs."""
    check_number(gpu_hours, "--gpu-hours", 0, low_open=True)
    check_number(utilisation_frac, "--utilisation", 0, 1, low_open=True)
    own_h = owned.usd_per_gpu_hour
    useful_h = owned_usd_per_useful_gpu_hour(owned, idle, utilisation_frac)
    busy_w = _power_usd_per_hour(owned)
    idle_w = busy_w if idle is None else _power_usd_per_hour(idle)
    fixed = own_h - busy_w
    out: list[dict[str, Any]] = [{
        "kind": "own", "name": "own", "usd_per_gpu_hour": useful_h,
        "cost_usd": gpu_hours * useful_h,
        "basis": f"owned TCO ${own_h:.2f}/GPU-h busy at {utilisation_frac:.0%} fleet use "
                 f"(idle hours pay fixed costs and ${idle_w:.3f}/GPU-h idle power)"}]
    for r in rental_prices(owned.accelerator):
        usd = r.usd_per_gpu_hour
        gap = usd - busy_w + idle_w
        be = (fixed + idle_w) / gap if gap > 0 else None
        out.append({"kind": "rent", "name": f"rent/{r.provider}/{r.pricing}",
                    "usd_per_gpu_hour": usd, "cost_usd": gpu_hours * usd,
                    "break_even_utilisation_frac": be if be is not None and be <= 1 else None,
                    "basis": r.basis, "price_estimated": r.estimated})
    return sorted(out, key=lambda o: o["cost_usd"])
