"""Serving energy and cost go through the price book, site and ledger of cluster runs
(issue 9, item 6): no flat assumed rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from serving_builders import run_main, scenario_file

from gputwin.energy.tables import PriceBook, default_tables
from gputwin.errors import InputError
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import ServingScenario, load_serving_scenario

GPU = "h100-sxm-80gb"


def _scenario(site: dict[str, Any] | None = None, gpu: str = GPU, **service: Any
              ) -> ServingScenario:
    svc = {"name": "chat", "model": "llama3.1-8b", "gpu": gpu, **service}
    data: dict[str, Any] = {"name": "cost", "serving": {
        "services": [svc],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 300,
                      "arrival": {"process": "poisson", "rate": 10},
                      "prompt": {"dist": "fixed", "value": 500},
                      "output": {"dist": "fixed", "value": 100}}]}}
    if site is not None:
        data["site"] = site
    return ServingScenario.model_validate(data)


def _rate(provider: str = "neocloud", pricing: str = "on-demand", gpu: str = GPU) -> float:
    return default_tables().price_book.accelerators[gpu].usd_per_gpu_hour[provider][pricing]


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return simulate_serving(_scenario()).summary


def _scaled_book(gpu: str, factor: float) -> PriceBook:
    book = default_tables().price_book
    entry = book.accelerators[gpu]
    prices = {p: {k: v * factor for k, v in by.items()}
              for p, by in entry.usd_per_gpu_hour.items()}
    new = entry.model_copy(update={"usd_per_gpu_hour": prices})
    return book.model_copy(update={"accelerators": {**book.accelerators, gpu: new}})


def test_cost_is_gpu_hours_at_the_price_book_rate(base: dict[str, Any]) -> None:
    assert base["cost_usd"] == pytest.approx(base["gpu_hours"] * _rate())
    assert base["site"]["cost_basis"].startswith("rental: neocloud/on-demand $3.00/GPU-h")
    assert base["cost_per_million_output_tokens_usd"] == pytest.approx(
        base["cost_usd"] / base["output_tokens"] * 1e6)


def test_changing_the_price_book_entry_scales_the_cost(base: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(vars(default_tables()), "price_book", _scaled_book(GPU, 1.7))
    s = simulate_serving(_scenario()).summary
    assert s["cost_usd"] == pytest.approx(1.7 * base["cost_usd"])
    assert s["cost_per_million_tokens_usd"] == pytest.approx(
        1.7 * base["cost_per_million_tokens_usd"])
    assert s["energy_j"] == base["energy_j"]  # the price book moves cost only


@pytest.mark.parametrize(("provider", "pricing"),
                         [("hyperscaler", "on-demand"), ("marketplace", "spot"),
                          ("neocloud", "reserved")])
def test_provider_and_pricing_choose_the_rate(base: dict[str, Any], provider: str,
                                              pricing: str) -> None:
    s = simulate_serving(_scenario({"provider": provider, "pricing": pricing})).summary
    assert s["cost_usd"] == pytest.approx(base["cost_usd"] * _rate(provider, pricing)
                                          / _rate())


def test_owned_hardware_pays_capex_and_the_energy_bill(base: dict[str, Any]) -> None:
    s = simulate_serving(_scenario({"provider": "owned"})).summary
    from gputwin.energy.tco import SERVING_NETWORK, owned_fixed_usd_per_gpu_hour

    # the owned hardware's full TCO less power (energy/tco.py), per GPU-hour held
    usd_h, _ = owned_fixed_usd_per_gpu_hour(GPU, 0.0, SERVING_NETWORK)
    capex = base["gpu_hours"] * usd_h
    assert s["cost_compute_usd"] == pytest.approx(capex)
    assert s["cost_usd"] == pytest.approx(capex + s["cost_energy_usd"])
    assert s["cost_energy_usd"] > 0


def test_region_moves_carbon_not_rental_cost(base: dict[str, Any]) -> None:
    coal = simulate_serving(_scenario({"region": "ZA"})).summary
    hydro = simulate_serving(_scenario({"region": "CA-ON"})).summary
    assert coal["co2e_operational_g"] > 3 * hydro["co2e_operational_g"]
    assert coal["cost_usd"] == pytest.approx(hydro["cost_usd"])
    assert coal["energy_j"] == pytest.approx(hydro["energy_j"])


def test_serving_embodied_is_per_held_gpu_second_at_the_allocated_rate(
        base: dict[str, Any]) -> None:
    """A serving run charges only the GPU-seconds replicas hold (no idle account for GPUs no
    replica holds), so embodied carbon is the allocated rate of the one rule."""
    from gputwin.energy.accounting import embodied_g_per_gpu_s

    held_s = base["gpu_hours"] * 3600.0
    assert base["co2e_embodied_g"] == pytest.approx(
        held_s * embodied_g_per_gpu_s(GPU, 700.0, "allocated"), rel=1e-9)
    assert base["site"]["embodied_basis"].startswith("allocated")


def test_a_gpu_without_a_price_book_entry_has_no_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    book = default_tables().price_book
    entries = {k: v for k, v in book.accelerators.items() if k != "l40s"}
    monkeypatch.setitem(vars(default_tables()), "price_book",
                        book.model_copy(update={"accelerators": entries}))
    s = simulate_serving(_scenario(gpu="l40s")).summary
    assert s["cost_usd"] is None and s["cost_per_million_tokens_usd"] is None
    assert "no price book entry for l40s" in s["site"]["cost_basis"]
    assert s["energy_j"] > 0 and s["co2e_embodied_g"] > 0


def test_a_part_not_rented_by_neoclouds_is_priced_at_its_first_listing() -> None:
    """The RTX PRO 6000 is listed by hyperscalers and marketplaces only: with no provider
    chosen the run is priced at the first class that rents it; naming an unlisted class
    says what is offered instead of leaving the cost out silently."""
    gpu = "rtx-pro-6000"
    listed = default_tables().price_book.accelerators[gpu].usd_per_gpu_hour
    assert "neocloud" not in listed  # the premise of this test
    s = simulate_serving(_scenario(gpu=gpu)).summary
    assert s["cost_usd"] == pytest.approx(s["gpu_hours"] * _rate("hyperscaler", gpu=gpu))
    assert s["site"]["cost_basis"].startswith("rental: hyperscaler/on-demand")
    named = simulate_serving(_scenario({"provider": "neocloud"}, gpu=gpu)).summary
    assert named["cost_usd"] is None
    assert "no neocloud price for rtx-pro-6000" in named["site"]["cost_basis"]
    assert "hyperscaler/on-demand" in named["site"]["cost_basis"]


def test_flat_gpu_cost_field_is_refused_with_a_pointer(tmp_path: Path) -> None:
    f = scenario_file(tmp_path, "gpu: h100-sxm-80gb", section="  gpu_cost_per_hour: 2.5\n")
    with pytest.raises(InputError, match="price book"):
        load_serving_scenario(f)


def test_liquid_cooled_nvl72_in_an_air_hall_names_site_cooling(tmp_path: Path) -> None:
    f = scenario_file(tmp_path, "system: gb200-nvl72", top="site:\n  cooling: air\n")
    with pytest.raises(InputError, match="liquid") as info:
        load_serving_scenario(f)
    assert f"{f}:2" in str(info.value) and "site.cooling" in str(info.value)


def test_cli_provider_option_changes_the_cost(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    base = ["simulate", "serve", "--model", "llama3.1-8b", "--gpu", GPU, "--rate", "5",
            "--num-requests", "50", "--json", "-q", "--out", str(tmp_path)]
    costs = {}
    for provider in ("neocloud", "hyperscaler"):
        assert run_main([*base, "--provider", provider]) == 0
        costs[provider] = json.loads(capsys.readouterr().out)["cost_usd"]
    assert costs["hyperscaler"] / costs["neocloud"] == pytest.approx(
        _rate("hyperscaler") / _rate())
    assert run_main([*base, "--gpu-cost", "2.5"]) == 2


def test_a_pricing_beside_owned_hardware_is_refused_where_it_is_given(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Owned hardware is priced by its cost of ownership: a rental pricing next to it was
    silently ignored; the site (and the estimate flags) refuse the pair, naming it."""
    with pytest.raises(ValueError, match="applies to rented GPUs"):
        _scenario({"provider": "owned", "pricing": "spot"})
    owned = simulate_serving(_scenario({"provider": "owned"})).summary
    assert owned["site"]["cost_basis"].startswith("owned")
    code = run_main(["estimate", "video", "--model", "flux.1-dev", "--provider", "owned",
                     "--pricing", "spot"])
    err = capsys.readouterr().err
    assert code == 2 and "--pricing" in err and "rented GPUs" in err
