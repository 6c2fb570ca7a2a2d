"""Ledger invariants (hypothesis) and accounting arithmetic against hand calculations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.energy.accounting import (
    EnergyLedger,
    Site,
    allocation_rates,
    embodied_basis_note,
    embodied_g_per_gpu_s,
    embodied_kg_per_gpu,
)
from gputwin.energy.facility import Facility
from gputwin.energy.grid import J_PER_KWH, RegionGrid, constant_series
from gputwin.energy.regions import region_grid
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError, UnknownNameError

ACC = "h100-sxm-80gb"
SITE = Site("gb", region_grid("GB"), Facility.build("air", "GB"))
RATES = {ACC: allocation_rates(ACC, 700.0)}

interval = st.tuples(st.sampled_from(["a", "b", "c", None]), st.floats(0, 3e7),
                     st.floats(0, 5e5), st.floats(0, 2e5), st.integers(0, 64))


@settings(max_examples=40, deadline=None)
@given(st.lists(interval, max_size=12))
def test_ledger_invariants(records: list[tuple[str | None, float, float, float, int]]) -> None:
    ledger = EnergyLedger({"gb": SITE}, RATES)
    for job, t0, span, power, gpus in records:
        ledger.record(job, "gb", t0, t0 + span, power, num_gpus=gpus, accelerator=ACC)
    total = ledger.total
    summed = ledger.idle.to_dict()
    for acc in ledger.jobs().values():
        for key, value in acc.to_dict().items():
            summed[key] = summed[key] + value if key != "pue" else 0.0
    for key, value in total.to_dict().items():
        if key == "pue":
            continue
        assert value >= 0.0 or key == "energy_cost_usd"
        assert value == pytest.approx(summed[key], rel=1e-9, abs=1e-6)
    assert total.facility_energy_j >= total.it_energy_j - 1e-6


def test_flat_grid_carbon_is_energy_times_intensity() -> None:
    flat = constant_series(400 / J_PER_KWH)
    grid = RegionGrid("x", flat, flat, constant_series(100 / 3.6e9))
    site = Site("x", grid, Facility.build("air", "GB", pue_override=1.2))
    acc = EnergyLedger({"x": site}).record("j", "x", 0, 10 * 3600, 1000.0)
    assert acc.it_energy_j == pytest.approx(10 * 3.6e6)
    assert acc.facility_energy_j == pytest.approx(12 * 3.6e6)
    assert acc.co2e_operational_g == pytest.approx(12 * 400)
    assert acc.energy_cost_usd == pytest.approx(0.012 * 100)


def test_embodied_and_rental_rates_per_gpu_hour() -> None:
    a100 = allocation_rates("a100-sxm-80gb", 400.0, provider="owned")
    # Chien et al. 318 kg + 312.5 kg host share over 6 y at 85 % use ~ 14.1 g per GPU-hour
    assert a100.embodied_g_per_gpu_s * 3600 == pytest.approx(630.5e3 / (6 * 8760 * 0.85))
    assert not a100.energy_in_price
    spot = allocation_rates(ACC, 700.0, provider="marketplace", pricing="spot")
    ondemand = allocation_rates(ACC, 700.0, provider="hyperscaler", pricing="on-demand")
    assert spot.compute_usd_per_gpu_s < ondemand.compute_usd_per_gpu_s


def test_one_embodied_rule_two_bases() -> None:
    """Wall clock: a GPU charged every second of its life is charged its kg exactly; allocated:
    charged only its held 85 %, it is charged its kg too (not 1/0.85 of it)."""
    emb = default_tables().embodied
    life_s = emb.lifetime_years * 8760 * 3600
    kg, _ = embodied_kg_per_gpu(ACC, 700.0)
    wall = embodied_g_per_gpu_s(ACC, 700.0, "wall-clock")
    held = embodied_g_per_gpu_s(ACC, 700.0, "allocated")
    assert wall * life_s == pytest.approx(kg * 1e3)
    assert held * life_s * emb.utilisation_frac == pytest.approx(kg * 1e3)
    assert allocation_rates(ACC, 700.0, embodied_basis="wall-clock").embodied_g_per_gpu_s == wall
    owned = allocation_rates(ACC, 700.0, provider="owned", embodied_basis="wall-clock")
    assert (owned.embodied_g_per_gpu_s, owned.embodied_basis) == (wall, "wall-clock")
    assert allocation_rates(ACC, 700.0).embodied_g_per_gpu_s == held  # the ledger's default
    assert embodied_basis_note("wall-clock").startswith("wall-clock")
    assert f"{emb.utilisation_frac:.0%}" in embodied_basis_note("allocated")
    with pytest.raises(UnknownNameError, match="embodied basis"):
        embodied_g_per_gpu_s(ACC, 700.0, "busy")  # type: ignore[arg-type]


def test_bad_intervals_are_refused() -> None:
    ledger = EnergyLedger({"gb": SITE}, RATES)
    with pytest.raises(InputError):
        ledger.record("j", "gb", 10, 5, 100.0)
    with pytest.raises(InputError):
        ledger.record("j", "gb", 0, 5, -1.0)
    with pytest.raises(InputError, match="site"):
        ledger.record("j", "nowhere", 0, 5, 1.0)
    assert np.isfinite(ledger.total.pue)
