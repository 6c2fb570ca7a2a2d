"""Warm-up requests (``warmup_requests:`` on a synthetic source): served like any other, but
left out of the run's metrics, as a benchmark client's warm-up (AIPerf
``--warmup-request-count``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gputwin.run.serving_results import RequestTable
from gputwin.run.simulate_serve import simulate_serving
from gputwin.run.validate_serve import _workload
from gputwin.scenario.serving import ServingScenario

SERVICE = {"name": "default", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb"}


def _source(n: int, warmup: int, **load: Any) -> dict[str, Any]:
    return {"kind": "synthetic", "num_requests": n, "warmup_requests": warmup,
            "prompt": {"dist": "uniform", "low": 2000, "high": 4000},
            "output": {"dist": "uniform", "low": 50, "high": 200}, **load}


def _run(source: dict[str, Any]) -> tuple[dict[str, Any], RequestTable]:
    sc = ServingScenario.model_validate({"name": "warm", "seed": 5, "serving": {
        "services": [SERVICE], "workload": [source]}})
    res = simulate_serving(sc)
    assert isinstance(res.requests, RequestTable)
    return res.summary, res.requests


@pytest.mark.parametrize("load", [{"concurrency": 16},
                                  {"arrival": {"process": "poisson", "rate": 20.0}}])
def test_warmup_requests_are_served_but_left_out_of_the_metrics(load: dict[str, Any]) -> None:
    n, k = 160, 32
    plain, t0 = _run(_source(n, 0, **load))
    warm, t = _run(_source(n, k, **load))
    # the warm-up label changes nothing in the simulation itself
    np.testing.assert_array_equal(t.arrival_s, t0.arrival_s)
    np.testing.assert_array_equal(t.finish_s, t0.finish_s)
    service = warm["services"]["default"]
    assert (service["num_requests"], service["warmup_requests"]) == (n - k, k)
    assert plain["services"]["default"]["warmup_requests"] == 0
    # the first k sent (request ids 0 .. k-1, in send order) are the warm-up
    measured = t.request_id >= k
    assert float(t.arrival_s[~measured].max()) <= float(t.arrival_s[measured].min())
    assert service["finished"] == int(measured.sum())
    assert service["ttft_s"]["mean"] == pytest.approx(float(np.mean(t.ttft_s[measured])))
    assert plain["services"]["default"]["ttft_s"]["mean"] == pytest.approx(
        float(np.mean(t.ttft_s)))
    # rates over the measured window: first measured send to last measured finish
    window = float(t.finish_s[measured].max() - t.arrival_s[measured].min())
    assert service["output_tokens_per_s"] == pytest.approx(
        float(t.output_tokens[measured].sum()) / window)


def test_a_closed_loops_start_up_burst_falls_in_the_warmup() -> None:
    """All clients send at t = 0, so the first wave queues behind each other's prefills;
    a warm-up of two waves leaves that queue out of the mean TTFT."""
    plain, t = _run(_source(320, 0, concurrency=32))
    warm, _ = _run(_source(320, 64, concurrency=32))
    first_wave = t.request_id < 32
    assert float(np.mean(t.ttft_s[first_wave])) > 2 * float(np.mean(t.ttft_s[~first_wave]))
    assert warm["ttft_s"]["mean"] < plain["ttft_s"]["mean"]


def test_warmup_must_leave_requests_to_measure() -> None:
    with pytest.raises(Exception, match="warmup_requests"):
        ServingScenario.model_validate({"name": "x", "serving": {
            "services": [SERVICE], "workload": [_source(10, 10, concurrency=2)]}})
    with pytest.raises(Exception, match="greater than or equal"):
        ServingScenario.model_validate({"name": "x", "serving": {
            "services": [SERVICE], "workload": [_source(10, -1, concurrency=2)]}})


def test_validation_cases_pass_the_warmup_through() -> None:
    closed = {"concurrency": 4, "num_requests": 48, "warmup": 8, "input": 100, "output": 10}
    assert _workload({"closed": closed})["warmup_requests"] == 8
    assert _workload({"closed": {**closed, "warmup": 0}})["warmup_requests"] == 0
    del closed["warmup"]
    assert _workload({"closed": closed})["warmup_requests"] == 0



def test_cli_warmup_requests(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    import json

    from gputwin.cli.main import main

    args = ["simulate", "serve", "--model", "llama3.1-8b", "--concurrency", "4",
            "--num-requests", "40", "--input-tokens", "500", "--output-tokens", "50",
            "--json", "--no-timing", "--outputs", "summary"]
    main([*args, "--warmup-requests", "8", "--out", str(tmp_path / "o")])
    service = json.loads(capsys.readouterr().out)["services"]["default"]
    assert (service["num_requests"], service["warmup_requests"]) == (32, 8)
    with pytest.raises(SystemExit) as info:
        main([*args, "--warmup-requests", "40", "--out", str(tmp_path / "b")])
    assert info.value.code == 2
    assert "warmup_requests" in capsys.readouterr().err
