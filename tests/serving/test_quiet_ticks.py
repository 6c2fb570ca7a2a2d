"""Samples and autoscaler ticks are skipped across quiet stretches: bounded work for long
idle spans, and results and timelines as with every tick taken."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from serving_builders import engine, requests_from, run_fleet

from gputwin.run.serving_summary import time_weighted_mean
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import ServingScenario
from gputwin.serving.fleet import Fleet
from gputwin.serving.request import FINISHED
from gputwin.serving.ticks import skip_to

TEN_YEARS_S = 10 * 365 * 86400.0
LENGTHS = {"prompt": {"dist": "lognormal", "mean": 600, "median": 400, "high": 4000},
           "output": {"dist": "lognormal", "mean": 150, "median": 100, "high": 1000}}


def test_two_requests_ten_years_apart_take_a_few_samples() -> None:
    out = run_fleet(requests_from([(0.0, 300, 20), (TEN_YEARS_S, 300, 20)]), engine())
    assert [s.status for s in out.states] == [FINISHED, FINISHED]
    # one sample a minute would be 5 million; skipped, a handful around each request
    assert len(out.timelines["default"].time_s) < 20
    assert out.num_events < 100


def _serve(workload: list[dict[str, Any]], **service: Any) -> Any:
    return simulate_serving(ServingScenario.model_validate({
        "name": "quiet", "seed": 3, "serving": {
            "services": [{"name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb",
                          **service}],
            "workload": [{"service": "chat", "kind": "synthetic", **LENGTHS, **w}
                         for w in workload]}}))


def test_a_rate_of_1e_30_finishes_at_once() -> None:
    start = time.perf_counter()
    res = _serve([{"num_requests": 3, "arrival": {"process": "poisson", "rate": 1e-30}}],
                 replicas=2,
                 autoscaler={"interval": "15s", "min_replicas": 1, "max_replicas": 4})
    assert res.summary["requests_by_status"]["finished"] == 3
    assert len(res.timelines["chat"].time_s) < 100
    assert time.perf_counter() - start < 10.0


def test_skip_to_walks_the_grid_and_keeps_the_tick_before_the_event() -> None:
    assert skip_to(0.0, 100.0, lambda _: 15.0) == 90.0  # ticks 15, 30, ..., 90
    assert skip_to(0.0, 25.0, lambda _: 15.0) is None  # the next tick is the last one
    assert skip_to(0.0, None, lambda _: 15.0) is None
    assert skip_to(0.0, TEN_YEARS_S, lambda _: 60.0) == pytest.approx(TEN_YEARS_S - 60.0)
    assert skip_to(1e30, 2e30, lambda _: 60.0) == 2e30  # the grid finer than the floats


def _held(times: list[float], values: list[Any], at: float) -> Any:
    """The step function through (times, values) at ``at``."""
    i = max(k for k, t in enumerate(times) if t <= at)
    return values[i]


@pytest.mark.parametrize("workload, service", [
    # sparse open arrivals with a burst; utilization autoscaler with a scale-down window
    ([{"num_requests": 40, "arrival": {"process": "poisson", "rate": 0.002}},
      {"num_requests": 800, "arrival": {"process": "poisson", "rate": 30}}],
     {"replicas": 2, "autoscaler": {"metric": "utilization", "target": 0.5,
                                    "interval": "15s", "max_replicas": 4,
                                    "scale_down_stabilization": "60s"}}),
    # closed-loop clients with long think times (the sample interval grows with time)
    ([{"num_requests": 200, "concurrency": 8, "think_time": 120}],
     {"replicas": 1, "autoscaler": {"metric": "concurrency", "target": 1,
                                    "interval": "10s", "max_replicas": 3}}),
])
def test_skipping_quiet_ticks_changes_no_result(workload: list[dict[str, Any]],
                                                service: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sparse = _serve(workload, **service)
    monkeypatch.setattr(Fleet, "skip_quiet_ticks", False)
    dense = _serve(workload, **service)
    assert list(sparse.requests) == list(dense.requests)
    assert sparse.replicas == dense.replicas
    assert len(sparse.replicas) > service["replicas"]  # the autoscaler did act
    s, d = sparse.timelines["chat"], dense.timelines["chat"]
    assert len(s.time_s) < 0.5 * len(d.time_s)  # samples were skipped
    assert set(s.time_s) <= set(d.time_s)
    for name in ("replicas", "running", "waiting", "kv_used_frac", "output_tokens_per_s"):
        held = [_held(s.time_s, getattr(s, name), t) for t in d.time_s]
        assert held == getattr(d, name), name
    # queue growth weighs samples by time, so the skipped ones do not move it
    growth = [r.summary["services"]["chat"]["queue_growth_rps"] for r in (sparse, dense)]
    assert growth[0] == pytest.approx(growth[1], rel=1e-9, abs=1e-12)


def test_time_weighted_mean_weighs_each_value_by_the_time_it_holds() -> None:
    t = np.array([0.0, 1.0, 10.0])
    values = np.array([4.0, 0.0, 2.0])
    assert time_weighted_mean(t, values, 0.0, 10.0) == pytest.approx(0.4)  # 4 for 1 s of 10
    assert time_weighted_mean(t, values, 0.5, 1.5) == pytest.approx(2.0)
    assert time_weighted_mean(t, values, 10.0, 20.0) == pytest.approx(2.0)  # last one holds
    assert time_weighted_mean(t, values, -1.0, 1.0) == pytest.approx(2.0)  # 0 before t[0]
    assert time_weighted_mean(t, values, 5.0, 5.0) == 0.0
    assert time_weighted_mean(np.array([]), np.array([]), 0.0, 1.0) == 0.0
