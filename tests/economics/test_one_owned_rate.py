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


def _simulated_owned(gpu: str) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "owned", "site": {"provider": "owned"}, "serving": {
        "services": [{"name": "chat", "model": MODEL, "gpu": gpu}],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 60,
                      "arrival": {"process": "poisson", "rate": 10},
                      "prompt": {"dist": "fixed", "value": 200},
                      "output": {"dist": "fixed", "value": 20}}]}}
    return simulate_serving(ServingScenario.model_validate(data)).summary


def _planned_usd_per_gpu_hour(gpu: str) -> float:
    req = ServePlanRequest(model=MODEL, rate=6.0, input_tokens=1024, output_tokens=64,
                           tpot_slo=0.05, gpus=[gpu], provider="owned")
    _, priced = priced_hardware(req, default_catalog())
    return priced[gpu].compute_usd_per_gpu_s * 3600.0


@pytest.mark.parametrize("gpu", [GPU, "mi300x", "gb200"])
def test_an_owned_gpu_hour_costs_the_same_in_simulate_plan_and_tco(gpu: str) -> None:
    tco = estimate_tco(TcoRequest(model=MODEL, tokens_per_day=1e9, gpu=gpu))["owned_tco"]
    power_h = tco["usd_per_gpu_year_by_item"]["power"] / 8760.0
    fixed_h = tco["usd_per_gpu_hour"] - power_h
    assert _planned_usd_per_gpu_hour(gpu) == pytest.approx(tco["usd_per_gpu_hour"], rel=1e-9)
    sim = _simulated_owned(gpu)
    assert sim["cost_compute_usd"] / sim["gpu_hours"] == pytest.approx(fixed_h, rel=1e-9)
    # the ledger bills the energy on top, from the modelled draw and the site's grid price
    assert sim["cost_usd"] == pytest.approx(sim["cost_compute_usd"] + sim["cost_energy_usd"])
    assert sim["cost_energy_usd"] > 0


def test_a_liquid_cooled_system_is_priced_on_a_liquid_cooled_floor() -> None:
    """A GB200 NVL72 rack cannot stand in an air-cooled hall: by default an owned part is
    priced at its own system's cooling (as a run's site follows it), in every command."""
    from gputwin.energy.tco import SERVING_NETWORK, OwnedAssumptions, owned_rate
    from gputwin.topology.hardware import resolve_hardware

    hw = resolve_hardware(default_catalog(), gpu="gb200")
    liquid = owned_rate(hw.accelerator, hw.system,
                        OwnedAssumptions(cooling="liquid", network=SERVING_NETWORK))
    air = owned_rate(hw.accelerator, hw.system,
                     OwnedAssumptions(cooling="air", network=SERVING_NETWORK))
    assert liquid.fixed_usd_per_gpu_hour > air.fixed_usd_per_gpu_hour
    tco = estimate_tco(TcoRequest(model=MODEL, tokens_per_day=1e9, gpu="gb200"))["owned_tco"]
    assert tco["assumptions"]["cooling"] == "liquid"
    assert _planned_usd_per_gpu_hour("gb200") == pytest.approx(liquid.usd_per_gpu_hour)
