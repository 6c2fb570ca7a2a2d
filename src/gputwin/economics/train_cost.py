"""Rent vs own for a training run of a given size (GPU-hours on one accelerator type).

- **rent**: every price book listing, ``GPU-hours x $/GPU-hour`` (the provider pays power);
- **own**: ``GPU-hours x owned $/GPU-hour / utilisation`` -- an owned fleet costs its TCO
  every wall-clock hour, so the run also carries its share of the idle time between jobs
  (``utilisation_frac`` of the fleet's hours do useful work). The owned rate is taken at
  training activity (power near TDP).

``break_even_utilisation_frac`` of a rental = owned $/GPU-h / rental $/GPU-h: the fleet
utilisation above which owning is cheaper than that rental (``None`` above 1).
"""

from __future__ import annotations

from typing import Any

from gputwin.economics.tco import OwnedCost, rental_prices
from gputwin.errors import check_number


def training_options(owned: OwnedCost, gpu_hours: float, utilisation_frac: float = 0.8
                     ) -> list[dict[str, Any]]:
    """Options sorted by cost; raises :class:`InputError` on non-positive inputs."""
    check_number(gpu_hours, "--gpu-hours", 0, low_open=True)
    check_number(utilisation_frac, "--utilisation", 0, 1, low_open=True)
    own_h = owned.usd_per_gpu_hour
    out: list[dict[str, Any]] = [{
        "kind": "own", "name": "own", "usd_per_gpu_hour": own_h / utilisation_frac,
        "cost_usd": gpu_hours * own_h / utilisation_frac,
        "basis": f"owned TCO ${own_h:.2f}/GPU-h at {utilisation_frac:.0%} fleet use"}]
    for r in rental_prices(owned.accelerator):
        usd = r.usd_per_gpu_hour
        be = own_h / usd
        out.append({"kind": "rent", "name": f"rent/{r.provider}/{r.pricing}",
                    "usd_per_gpu_hour": usd, "cost_usd": gpu_hours * usd,
                    "break_even_utilisation_frac": be if be <= 1 else None,
                    "basis": r.basis, "price_estimated": r.estimated})
    return sorted(out, key=lambda o: o["cost_usd"])
