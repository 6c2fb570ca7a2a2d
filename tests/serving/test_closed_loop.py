"""Closed-loop clients (``concurrency:``): a fixed number of users, each sending its next
request when its previous one completes (benchmarks with a maximum concurrency)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gputwin.errors import InputError
from gputwin.run.serving_results import RequestTable
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import ServingScenario
from gputwin.serving.closed_loop import ClosedLoop

SERVICE = {"name": "default", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb"}


def _closed(concurrency: int, n: int = 300, think: float = 0.0, **extra: Any
            ) -> dict[str, Any]:
    src = {"kind": "synthetic", "num_requests": n, "concurrency": concurrency,
           "prompt": {"dist": "uniform", "low": 200, "high": 1200},
           "output": {"dist": "uniform", "low": 20, "high": 300}, **extra}
    if think:
        src["think_time"] = think
    return src


def _run(*sources: dict[str, Any], services: list[dict[str, Any]] | None = None
         ) -> tuple[dict[str, Any], RequestTable]:
    sc = ServingScenario.model_validate({"name": "closed", "seed": 3, "serving": {
        "services": services or [SERVICE], "workload": list(sources)}})
    res = simulate_serving(sc)
    assert isinstance(res.requests, RequestTable)
    return res.summary, res.requests


def _max_in_flight(t: RequestTable, mask: np.ndarray | None = None) -> int:
    """Most requests between their arrival and their finish at any instant."""
    arr, fin = t.arrival_s, t.finish_s
    if mask is not None:
        arr, fin = arr[mask], fin[mask]
    events = sorted([(a, 1) for a in arr] + [(f, -1) for f in fin])  # a finish first
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


@pytest.mark.parametrize("concurrency", [1, 8, 64])
def test_never_more_than_the_concurrency_in_flight(concurrency: int) -> None:
    summary, t = _run(_closed(concurrency))
    assert summary["requests_by_status"]["finished"] == 300
    assert _max_in_flight(t) == concurrency
    # the first wave is sent at t = 0, every later request when one of the group finishes
    starts = np.sort(t.arrival_s)
    assert np.count_nonzero(starts == 0.0) == concurrency
    finishes = set(np.round(t.finish_s, 9))
    assert all(round(a, 9) in finishes for a in starts[concurrency:])


def test_littles_law_holds_for_the_closed_system() -> None:
    # N = X x R: with no think time the clients keep `concurrency` requests in the system,
    # so throughput x mean end-to-end latency is the concurrency (to the ramp-down tail)
    summary, t = _run(_closed(16, n=2000))
    makespan = float(np.max(t.finish_s))
    throughput = 2000 / makespan
    assert throughput * float(np.mean(t.e2e_s)) == pytest.approx(16, rel=0.03)
    assert summary["throughput_rps"] == pytest.approx(throughput, rel=0.01)


def test_more_clients_raise_throughput_and_latency() -> None:
    few, _ = _run(_closed(4, n=400))
    many, _ = _run(_closed(64, n=400))
    assert many["output_tokens_per_s"] > 2 * few["output_tokens_per_s"]
    assert many["tpot_s"]["p50"] > few["tpot_s"]["p50"]


def test_think_time_spaces_a_clients_requests() -> None:
    _, t = _run(_closed(1, n=20, think=2.0))
    order = np.argsort(t.arrival_s)
    gaps = t.arrival_s[order][1:] - t.finish_s[order][:-1]
    assert np.allclose(gaps, 2.0)


def test_open_and_closed_sources_share_a_run() -> None:
    open_src = {"kind": "synthetic", "service": "b", "num_requests": 100,
                "arrival": {"process": "poisson", "rate": 5.0},
                "prompt": {"dist": "fixed", "value": 300},
                "output": {"dist": "fixed", "value": 50}}
    services = [SERVICE, {**SERVICE, "name": "b"}]
    summary, t = _run(_closed(8, n=200), open_src, services=services)
    assert summary["requests_by_status"]["finished"] == 300
    closed = np.array([s == "default" for s in t.service])
    assert _max_in_flight(t, closed) == 8
    # the open source keeps its Poisson arrivals (spread over ~20 s, not sent at t = 0)
    assert np.count_nonzero(t.arrival_s[~closed] == 0.0) <= 1
    assert float(np.max(t.arrival_s[~closed])) > 10.0


@pytest.mark.parametrize(("source", "match"), [
    ({"arrival": {"process": "poisson", "rate": 1.0}, "concurrency": 4}, "exactly one"),
    ({}, "exactly one"),
    ({"arrival": {"process": "poisson", "rate": 1.0}, "think_time": 1.0}, "closed-loop"),
    ({"concurrency": 0}, "greater than"),
])
def test_bad_closed_loop_sources(source: dict[str, Any], match: str) -> None:
    src = {"kind": "synthetic", "num_requests": 10, **source}
    with pytest.raises(Exception, match=match):
        ServingScenario.model_validate({"name": "x", "serving": {
            "services": [SERVICE], "workload": [src]}})


def test_closed_loop_spec_checks_its_numbers() -> None:
    with pytest.raises(InputError, match="concurrency"):
        ClosedLoop(0)
    with pytest.raises(InputError, match="think"):
        ClosedLoop(2, -1.0)


def test_cli_concurrency(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    import json

    from gputwin.cli.main import main

    main(["simulate", "serve", "--model", "llama3.1-8b", "--concurrency", "4",
          "--num-requests", "40", "--input-tokens", "500", "--output-tokens", "50",
          "--json", "--no-timing", "--outputs", "summary", "--out", str(tmp_path / "o")])
    d = json.loads(capsys.readouterr().out)
    assert d["requests_by_status"]["finished"] == 40
    with pytest.raises(SystemExit) as info:
        main(["simulate", "serve", "--concurrency", "4", "--rate", "2"])
    assert info.value.code == 2
    assert "--concurrency" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["simulate", "serve", "--concurrency", "4", "--arrival", "bursty"])
    assert info.value.code == 2
    assert "--arrival" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["simulate", "serve", "--rate", "2", "--think-time", "3s"])
    assert info.value.code == 2
    assert "--think-time" in capsys.readouterr().err
    main(["simulate", "serve", "--model", "llama3.1-8b", "--concurrency", "2", "--think-time",
          "2s", "--num-requests", "10", "--input-tokens", "100", "--output-tokens", "10",
          "--json", "--no-timing", "--outputs", "summary", "--out", str(tmp_path / "t")])
    paced = json.loads(capsys.readouterr().out)
    # two clients, 2 s between a response and the next request: 10 requests take > 8 s
    assert paced["requests_by_status"]["finished"] == 10 and paced["end_time_s"] > 8.0


def test_long_closed_runs_sample_the_timeline_sparingly() -> None:
    # the run's length is unknown when it starts: the sample interval grows with time
    sc = ServingScenario.model_validate({"name": "long", "seed": 1, "serving": {
        "services": [SERVICE], "workload": [_closed(4, n=2000)]}})
    res = simulate_serving(sc)
    samples = res.timelines["default"].time_s
    fixed_interval_count = res.end_time_s / 0.1  # the first interval, kept all run long
    assert res.end_time_s > 500
    assert len(samples) < 0.3 * fixed_interval_count
    assert samples[-1] >= res.end_time_s - 60.0


def test_a_client_waits_through_the_prefill_to_decode_hand_off() -> None:
    # disaggregated: the prefill replica's first token is not the end of the request; the
    # client sends its next one only when decoding on the other pool finishes
    svc = {**SERVICE, "disaggregation": {"prefill_replicas": 1, "decode_replicas": 2}}
    summary, t = _run(_closed(8, n=200), services=[svc])
    assert summary["requests_by_status"]["finished"] == 200
    assert _max_in_flight(t) == 8
    assert np.all(t.prefill_replica >= 0)
