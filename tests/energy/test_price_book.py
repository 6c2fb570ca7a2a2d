"""The price book covers every accelerator of the catalog, each entry dated and sourced."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.energy.accounting import allocation_rates
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError

BOOK = default_tables().price_book
ACCELS = sorted(default_catalog().accelerators)


#: embedded modules with no rental market: their price is a derived lease-equivalent
DERIVED_LEASE = {"jetson-agx-orin-64gb", "gb10"}


@pytest.mark.parametrize("name", ACCELS)
def test_every_catalog_part_has_a_sourced_price(name: str) -> None:
    entry = BOOK.accelerators.get(name)
    assert entry is not None, f"{name} has no price book entry"
    assert len(entry.source.strip()) > 40 and entry.as_of
    prices = [p for by_pricing in entry.usd_per_gpu_hour.values() for p in by_pricing.values()]
    assert prices and entry.capex_usd_per_gpu > 0
    if name in DERIVED_LEASE:  # said to be derived, and at most the capex over three years
        assert "DERIVED" in entry.source
        assert all(p < entry.capex_usd_per_gpu / (3 * 8760) * 1.5 for p in prices)
        return
    # $/accelerator-hour; a wafer-scale part (one ~23 kW "accelerator") rents for more
    tdp_w = default_catalog().accelerator(name).tdp_w
    assert all(0.1 < p < max(50.0, 0.02 * tdp_w) for p in prices)
    for by_pricing in entry.usd_per_gpu_hour.values():
        if "on-demand" in by_pricing and "reserved" in by_pricing:
            assert by_pricing["reserved"] < by_pricing["on-demand"]


def test_capacity_rented_from_one_hyperscaler_only() -> None:
    rates = allocation_rates("tpu-v5p", 450.0, provider="hyperscaler", pricing="on-demand")
    assert rates.cost_basis.startswith("rental: hyperscaler/on-demand $4.20")
    with pytest.raises(InputError, match="no neocloud/on-demand price for tpu-v5p"):
        allocation_rates("tpu-v5p", 450.0, provider="neocloud", pricing="on-demand")


def test_a_missing_rental_names_only_what_was_asked() -> None:
    """--pricing spot alone on a part no class rents at spot: the error names spot and the
    --pricing flag, not a provider the user never gave."""
    with pytest.raises(InputError) as info:
        allocation_rates("tpu-v5p", 450.0, provider=None, pricing="spot")
    assert info.value.where == "--pricing"
    assert info.value.detail.startswith("no spot price for tpu-v5p")
    assert "neocloud" not in info.value.detail


def test_owned_capex_for_every_part() -> None:
    for name in ACCELS:
        rates = allocation_rates(name, 500.0, provider="owned")
        assert rates.cost_basis.startswith("owned: capex")


def test_owned_rate_is_the_full_tco_less_power() -> None:
    """Issue 14: owned cost counts facility, network, storage, staff and maintenance, not
    only the server capex; power is billed by the ledger from the site's energy. One rule
    (energy/tco.py ``owned_rate``): per wall-clock hour held, no utilisation divisor."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.energy.tco import OwnedAssumptions, owned_cost
    from gputwin.topology.hardware import resolve_hardware

    rates = allocation_rates("h100-sxm-80gb", 700.0, provider="owned")
    capex_only = BOOK.accelerators["h100-sxm-80gb"].capex_usd_per_gpu / (
        BOOK.capex_lifetime_years * 8760 * 3600)
    assert rates.compute_usd_per_gpu_s > 1.5 * capex_only
    hw = resolve_hardware(default_catalog(), gpu="h100-sxm-80gb")
    for network in ("infiniband", "ethernet"):
        own = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(network=network))
        fixed_h = (own.total_usd_per_year - own.usd_per_year["power"]) / 8760
        got = allocation_rates("h100-sxm-80gb", 700.0, provider="owned", network=network)
        assert got.compute_usd_per_gpu_s * 3600 == pytest.approx(fixed_h)
    assert "facility" in rates.cost_basis and not rates.energy_in_price
    assert "held" in rates.cost_basis and "use," not in rates.cost_basis


@pytest.mark.parametrize("name", ACCELS)
def test_every_catalog_part_has_a_sourced_capex(name: str) -> None:
    """Issue 14: every accelerator of `catalog list` has a rental price and a capex entry,
    each with its source (the entry's source text says where the capex comes from)."""
    entry = BOOK.accelerators[name]
    assert entry.capex_usd_per_gpu > 0
    assert "capex" in entry.source.lower(), f"{name}: the source does not cite its capex"
    assert entry.as_of[:4].isdigit() and int(entry.as_of[:4]) >= 2024


def test_without_a_provider_the_first_listing_of_the_part_is_used() -> None:
    # TPUs are rented from their cloud only: no neocloud listing, so hyperscaler/on-demand
    tpu = allocation_rates("tpu-v6e", 300.0, provider=None, pricing=None)
    assert "hyperscaler/on-demand" in tpu.cost_basis and tpu.compute_usd_per_gpu_s > 0
    # a part the neoclouds list keeps the neocloud price
    h100 = allocation_rates("h100-sxm-80gb", 700.0, provider=None, pricing=None)
    assert h100.cost_basis == allocation_rates("h100-sxm-80gb", 700.0).cost_basis
    # a fixed pricing is kept: the first class listing it
    spot = allocation_rates("h100-nvl-94gb", 400.0, provider=None, pricing="spot")
    assert "hyperscaler/spot" in spot.cost_basis
    # an explicit choice the book lacks is still an error naming what is offered
    with pytest.raises(InputError, match="offered: hyperscaler/on-demand"):
        allocation_rates("tpu-v6e", 300.0, provider="neocloud", pricing="on-demand")


def test_estimated_listings_are_marked_in_every_output_basis() -> None:
    """A rental figure no provider publishes for the part (GB300 at every class; H100's
    hyperscaler spot, a discount rule) is an ESTIMATE in the cost basis and flagged;
    a listed rate is not."""
    from gputwin.energy.tco import rental_prices

    est = allocation_rates("gb300", 1400.0, provider="neocloud", pricing="on-demand")
    listed = allocation_rates("h100-sxm-80gb", 700.0, provider="neocloud", pricing="on-demand")
    rule = allocation_rates("h100-sxm-80gb", 700.0, provider="hyperscaler", pricing="spot")
    assert est.price_estimated and "ESTIMATE" in est.cost_basis
    assert not listed.price_estimated and "ESTIMATE" not in listed.cost_basis
    assert rule.price_estimated
    flags = {(r.provider, r.pricing): r.estimated for r in rental_prices("h100-sxm-80gb")}
    assert flags[("neocloud", "on-demand")] is False
    assert flags[("hyperscaler", "spot")] is True
    assert all(r.estimated and "ESTIMATE" in r.basis for r in rental_prices("gb300"))


@pytest.mark.parametrize("name", sorted(BOOK.accelerators))
def test_a_part_marked_all_estimated_says_so_in_its_source(name: str) -> None:
    entry = BOOK.accelerators[name]
    if entry.estimated == "all":
        assert "ESTIMATE" in entry.source or "DERIVED" in entry.source


def test_an_estimate_that_is_not_a_listing_is_refused() -> None:
    from pydantic import ValidationError

    from gputwin.energy.tables import PriceBookEntry

    with pytest.raises(ValidationError, match="neocloud/spot, not listed"):
        PriceBookEntry(source="a source of eight chars", as_of="2026-12",
                       usd_per_gpu_hour={"neocloud": {"on-demand": 2.0}},
                       capex_usd_per_gpu=10000.0, estimated=["neocloud/spot"])
