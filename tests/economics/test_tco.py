"""Owned-fleet TCO: capital recovery, items, monotonicity, published break-even check."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.economics.tables import api_prices, apis_for_model
from gputwin.economics.tco import (
    OwnedAssumptions,
    capital_recovery_factor,
    owned_cost,
    rental_prices,
    tco_table,
)
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError, UnknownNameError
from gputwin.topology.hardware import resolve_hardware


def _hw(gpu: str):  # type: ignore[no-untyped-def]
    return resolve_hardware(default_catalog(), gpu=gpu)


def test_crf_zero_rate_is_straight_line_and_rate_raises_it() -> None:
    assert capital_recovery_factor(0.0, 5) == pytest.approx(0.2)
    # textbook value: 8 % over 5 years -> 0.25046
    assert capital_recovery_factor(0.08, 5) == pytest.approx(0.25046, abs=1e-5)
    with pytest.raises(InputError):
        capital_recovery_factor(0.08, 0)


def test_items_add_up_and_are_positive() -> None:
    hw = _hw("h100-sxm-80gb")
    c = owned_cost(hw.accelerator, hw.system)
    assert set(c.usd_per_year) == {"hardware_capital", "facility_capital", "maintenance",
                                   "staff", "power"}
    assert all(v > 0 for v in c.usd_per_year.values())
    assert c.usd_per_gpu_hour * 8760 == pytest.approx(sum(c.usd_per_year.values()))
    assert c.peak_it_power_w > c.it_power_w > hw.accelerator.idle_w


def test_dearer_inputs_cost_more() -> None:
    hw = _hw("h100-sxm-80gb")
    base = OwnedAssumptions(network="ethernet")
    base_usd = owned_cost(hw.accelerator, hw.system, base).usd_per_gpu_hour
    for change in ({"financing_rate_frac": 0.15}, {"electricity_usd_per_mwh": 200.0},
                   {"pue": 1.6}, {"cooling": "liquid"}, {"network": "infiniband"},
                   {"activity_frac": 1.0}, {"depreciation_years": 3.0}):
        a = replace(base, **change)  # type: ignore[arg-type]
        assert owned_cost(hw.accelerator, hw.system, a).usd_per_gpu_hour > base_usd, change


def test_bad_assumptions_name_the_problem() -> None:
    hw = _hw("h100-sxm-80gb")
    with pytest.raises(UnknownNameError, match="cooling"):
        owned_cost(hw.accelerator, hw.system, OwnedAssumptions(cooling="lava"))
    with pytest.raises(InputError, match=r"^pue: expected a finite number >= 1, got 0\.9$"):
        owned_cost(hw.accelerator, hw.system, OwnedAssumptions(pue=0.9))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(("field", "message"), [
    ("pue", "pue: expected a finite number >= 1"),
    ("electricity_usd_per_mwh", "electricity_usd_per_mwh: expected a finite number >= 0"),
    ("financing_rate_frac", "financing_rate_frac: expected a finite number >= 0"),
    ("depreciation_years", "depreciation_years: expected a finite number > 0"),
    ("activity_frac", r"activity_frac: expected a finite number in \[0, 1\]"),
])
def test_non_finite_assumptions_are_refused(field: str, message: str, bad: float) -> None:
    """NaN passes every comparison (``nan < 0`` is false), so it used to price a GPU-hour at
    ``nan``; infinity gave ``$inf``. The Python API refuses both, naming the field."""
    hw = _hw("h100-sxm-80gb")
    with pytest.raises(InputError, match=f"^{message}, got {bad!r}$"):
        owned_cost(hw.accelerator, hw.system, OwnedAssumptions(**{field: bad}))


@pytest.mark.parametrize(("rate", "years", "where"), [
    (math.nan, 5.0, "financing_rate_frac"), (-0.1, 5.0, "financing_rate_frac"),
    (0.08, math.nan, "depreciation_years"), (0.08, 0.0, "depreciation_years"),
    (0.08, math.inf, "depreciation_years")])
def test_capital_recovery_factor_refuses_bad_inputs(rate: float, years: float, where: str
                                                    ) -> None:
    with pytest.raises(InputError, match=f"^{where}: expected a finite number"):
        capital_recovery_factor(rate, years)


def test_h100_owned_cost_near_published_break_even() -> None:
    """Latent Space, '$2 H100s: How the GPU Rental Bubble Burst' (E. Cheah, Oct 2024,
    https://www.latent.space/p/gpu-bubble): an H100 rented below ~$1.65/h never recoups
    its capex and running costs over 5 years, i.e. the all-in owned cost is ~$1.65/GPU-h.
    Ours, with a 5-year 8 % financed $40k server plus network, storage, facility, staff
    and power: ~$1.78-1.87/GPU-h (+8..13 %). Tolerance 20 %."""
    hw = _hw("h100-sxm-80gb")
    got = owned_cost(hw.accelerator, hw.system).usd_per_gpu_hour
    assert got == pytest.approx(1.65, rel=0.20)


@pytest.mark.parametrize("name", sorted(default_catalog().accelerators))
def test_every_catalog_part_has_an_owned_cost_and_a_rental(name: str) -> None:
    entry = default_tables().price_book.accelerators[name]
    assert rental_prices(name) and entry.capex_usd_per_gpu > 0


def test_tables_have_sources_and_apis_are_dated() -> None:
    t = tco_table()
    assert {"air", "liquid"} <= set(t.facility_usd_per_mw)
    assert all(a.source and a.as_of for a in api_prices())
    assert {a.name for a in apis_for_model("llama3-70b")} >= {"groq/llama-3.1-70b-versatile"}
    assert apis_for_model("gpt3-175b") == []


def test_training_rent_vs_own() -> None:
    from gputwin.economics.train_cost import training_options

    hw = _hw("h100-sxm-80gb")
    own = owned_cost(hw.accelerator, hw.system)
    rows = training_options(own, 1e6, utilisation_frac=0.5)
    by = {r["name"]: r for r in rows}
    assert by["own"]["cost_usd"] == pytest.approx(1e6 * own.usd_per_gpu_hour / 0.5)
    assert [r["cost_usd"] for r in rows] == sorted(r["cost_usd"] for r in rows)
    od = by["rent/hyperscaler/on-demand"]
    assert od["break_even_utilisation_frac"] == pytest.approx(own.usd_per_gpu_hour / 4.25)
    with pytest.raises(InputError):
        training_options(own, 0.0)
    for bad in (math.nan, math.inf):
        with pytest.raises(InputError, match=r"^--gpu-hours: expected a finite number > 0"):
            training_options(own, bad)
        with pytest.raises(InputError, match=r"^--utilisation: expected a finite number in"):
            training_options(own, 1e6, utilisation_frac=bad)


def test_idle_owned_hours_pay_fixed_costs_but_only_idle_power() -> None:
    """Capital accrues busy or idle; the power bill follows the draw. Dividing the whole
    owned rate by the utilisation billed every idle hour at training power."""
    from gputwin.economics.train_cost import training_options

    hw = _hw("h100-sxm-80gb")
    busy = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(activity_frac=0.9))
    idle = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(activity_frac=0.0))
    assert idle.it_power_w < busy.it_power_w
    fixed_y = busy.total_usd_per_year - busy.usd_per_year["power"]
    assert fixed_y == pytest.approx(idle.total_usd_per_year - idle.usd_per_year["power"])
    u = 0.5
    # a year of the fleet: every hour pays the fixed cost, busy hours busy power, idle hours
    # idle power; spread over the useful hours
    year = fixed_y + u * busy.usd_per_year["power"] + (1 - u) * idle.usd_per_year["power"]
    by = {r["name"]: r for r in training_options(busy, 1e6, u, idle)}
    assert by["own"]["usd_per_gpu_hour"] == pytest.approx(year / (u * 8760))
    assert by["own"]["usd_per_gpu_hour"] < busy.usd_per_gpu_hour / u
    for row in by.values():  # at the break-even use, owning costs the rental's price
        be = row.get("break_even_utilisation_frac")
        if be is not None:
            at_be = {r["name"]: r for r in training_options(busy, 1e6, be, idle)}
            assert at_be["own"]["usd_per_gpu_hour"] == pytest.approx(row["usd_per_gpu_hour"])


def test_edge_module_owned_cost_has_no_datacentre_items() -> None:
    """A Jetson in an edge closet pays for a switch port, an SSD and an enclosure, not for a
    share of an InfiniBand fabric, a parallel filesystem and a critical-power build."""
    edge = _hw("jetson-agx-orin-64gb")
    cost = owned_cost(edge.accelerator, edge.system)
    t = tco_table()
    assert cost.assumptions["deployment"] == "edge"
    assert cost.capex_usd["network"] == t.edge.network_usd_per_gpu < t.network_usd_per_gpu["none"]
    assert cost.capex_usd["storage"] == t.edge.storage_usd_per_gpu < t.storage_usd_per_gpu
    assert cost.capex_usd["facility"] == t.edge.facility_usd_per_gpu
    # the $2k module dominates: hardware capital is most of the yearly cost
    assert cost.usd_per_year["hardware_capital"] > 0.5 * cost.total_usd_per_year
    assert cost.usd_per_gpu_hour < 0.2
    dc = _hw("h100-sxm-80gb")
    assert owned_cost(dc.accelerator, dc.system).assumptions["deployment"] == "datacenter"
