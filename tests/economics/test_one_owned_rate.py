"""One owned GPU-hour, one price: ``simulate serve``, ``plan serve`` and ``estimate tco``
price an owned GPU-hour held by a serving fleet with the same rule
(:func:`gputwin.energy.tco.owned_rate`): the owned TCO per wall-clock hour, no utilisation
divisor. ``simulate serve`` bills the power from its energy ledger; the other two have no
ledger and add it at the TCO's mean activity, so their fixed parts (capital, facility,
maintenance, staff) must agree to the cent and their whole rates with each other."""

from __future__ import annotations

from typing import Any

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.requests import ServePlanRequest
from gputwin.run.estimate_tco import TcoRequest, estimate_tco
from gputwin.run.plan_serve import priced_hardware
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import ServingScenario

GPU = "h100-sxm-80gb"
MODEL = "llama3.1-8b"


def _simulated_owned() -> dict[str, Any]:
    data: dict[str, Any] = {"name": "owned", "site": {"provider": "owned"}, "serving": {
        "services": [{"name": "chat", "model": MODEL, "gpu": GPU}],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 60,
                      "arrival": {"process": "poisson", "rate": 10},
                      "prompt": {"dist": "fixed", "value": 200},
                      "output": {"dist": "fixed", "value": 20}}]}}
    return simulate_serving(ServingScenario.model_validate(data)).summary


def _planned_usd_per_gpu_hour() -> float:
    req = ServePlanRequest(model=MODEL, rate=6.0, input_tokens=1024, output_tokens=64,
                           tpot_slo=0.05, gpus=[GPU], provider="owned")
    _, priced = priced_hardware(req, default_catalog())
    return priced[GPU].compute_usd_per_gpu_s * 3600.0


def test_an_owned_gpu_hour_costs_the_same_in_simulate_plan_and_tco() -> None:
    tco = estimate_tco(TcoRequest(model=MODEL, tokens_per_day=1e9, gpu=GPU))["owned_tco"]
    power_h = tco["usd_per_gpu_year_by_item"]["power"] / 8760.0
    fixed_h = tco["usd_per_gpu_hour"] - power_h
    assert _planned_usd_per_gpu_hour() == pytest.approx(tco["usd_per_gpu_hour"], rel=1e-9)
    sim = _simulated_owned()
    assert sim["cost_compute_usd"] / sim["gpu_hours"] == pytest.approx(fixed_h, rel=1e-9)
    # the ledger bills the energy on top, from the modelled draw and the site's grid price
    assert sim["cost_usd"] == pytest.approx(sim["cost_compute_usd"] + sim["cost_energy_usd"])
    assert sim["cost_energy_usd"] > 0
