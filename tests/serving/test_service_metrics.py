"""Per-service rates are measured over each service's own active time (issue 9, item 7).

Two services share a run: ``early`` receives 20 req/s for 10 s from t=0, ``late`` the same
from t=30 s. Each replica keeps up, so each service finishes about 20 requests per second
while it is active; dividing by the whole run (~40 s) would report about a quarter.
"""

from __future__ import annotations

from typing import Any

import pytest

from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import ServingScenario

RATE = 20.0
NUM = 200  # 10 s of arrivals at RATE


def _source(service: str, start_s: float) -> dict[str, Any]:
    return {"kind": "synthetic", "service": service, "num_requests": NUM,
            "arrival": {"process": "fixed", "rate": RATE, "start": start_s},
            "prompt": {"dist": "fixed", "value": 200},
            "output": {"dist": "fixed", "value": 20}}


def _two_services() -> ServingScenario:
    svc = {"model": "llama3.1-8b", "gpu": "h100-sxm-80gb",
           "slo": {"ttft": "5s", "tpot": "1s"}}
    return ServingScenario.model_validate({"name": "two", "serving": {
        "services": [{"name": "early", **svc}, {"name": "late", **svc}],
        "workload": [_source("early", 0.0), _source("late", 30.0)]}})


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return simulate_serving(_two_services()).summary


@pytest.mark.parametrize("name", ["early", "late"])
def test_throughput_is_over_the_service_active_time(summary: dict[str, Any], name: str
                                                    ) -> None:
    s = summary["services"][name]
    assert s["finished"] == NUM
    # 200 requests between the first arrival and the last completion (~10 s + one request)
    assert s["throughput_rps"] == pytest.approx(RATE, rel=0.05)
    assert s["goodput_active_rps"] == pytest.approx(RATE, rel=0.05)
    assert s["output_tokens_per_s"] == pytest.approx(RATE * 20, rel=0.05)
    assert s["input_tokens_per_s"] == pytest.approx(RATE * 200, rel=0.05)
    assert 9.9 < s["active_time_s"] < 11.0


def test_the_run_is_longer_than_either_service(summary: dict[str, Any]) -> None:
    assert summary["end_time_s"] > 39.0
    early, late = summary["services"]["early"], summary["services"]["late"]
    assert max(early["active_time_s"], late["active_time_s"]) < summary["end_time_s"] / 3
