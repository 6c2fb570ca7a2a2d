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
    assert "error: --warmup-requests: must be below num_requests (40)" in capsys.readouterr().err


def test_requests_file_marks_the_warmup_and_recomputes_the_summary(tmp_path: Any) -> None:
    """requests.parquet carries a ``warmup`` column, so every summary figure can be
    recomputed from the file alone; the run's top-level counts are the measured ones."""
    import json

    import pyarrow.parquet as pq

    from gputwin.cli.main import main

    n, k = 60, 12
    main(["simulate", "serve", "--model", "llama3.1-8b", "--rate", "8", "--num-requests",
          str(n), "--input-tokens", "500", "--output-tokens", "40-80",
          "--warmup-requests", str(k), "--no-timing", "-q", "--outputs", "summary,parquet",
          "--out", str(tmp_path / "o")])
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    rows = pq.read_table(tmp_path / "o" / "requests.parquet").to_pydict()
    warm = np.array(rows["warmup"], dtype=bool)
    assert warm.sum() == k and not warm[np.array(rows["request_id"]) >= k].any()
    fin = (np.array(rows["status"]) == "finished") & ~warm
    ttft = np.array(rows["ttft_s"], dtype=float)[fin]
    assert summary["ttft_s"]["p90"] == pytest.approx(float(np.percentile(ttft, 90)))
    assert summary["output_tokens"] == int(np.array(rows["output_tokens"])[fin].sum())
    assert (summary["num_requests"], summary["warmup_requests"]) == (n - k, k)
    assert sum(summary["requests_by_status"].values()) == summary["num_requests"]


def test_energy_and_cost_per_token_count_the_tokens_they_paid_for() -> None:
    """Energy and cost cover the whole run, warm-up included, so the per-token figures
    divide by every finished request's tokens (``accounted_*_tokens``), not only the
    measured ones (which would charge them the warm-up's share)."""
    n, k = 160, 32
    plain, _ = _run(_source(n, 0, concurrency=16))
    warm, t = _run(_source(n, k, concurrency=16))
    s = warm["services"]["default"]
    fin = t.status == 0
    assert s["accounted_output_tokens"] == int(t.output_tokens[fin].sum())
    assert s["accounted_output_tokens"] > s["output_tokens"]
    assert s["cost_per_million_output_tokens_usd"] == pytest.approx(
        s["cost_usd"] / s["accounted_output_tokens"] * 1e6)
    assert s["energy_per_output_token_j"] == pytest.approx(
        s["energy_j"] / s["accounted_output_tokens"])
    # the same simulation, so the same per-token figures with or without the label
    p = plain["services"]["default"]
    for key in ("cost_per_million_output_tokens_usd", "cost_per_million_tokens_usd",
                "energy_per_output_token_j", "co2e_per_output_token_g"):
        assert s[key] == pytest.approx(p[key], rel=1e-9), key


def test_cli_table_says_how_many_warmup_requests_were_left_out(
        capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    from gputwin.cli.main import main

    main(["simulate", "serve", "--model", "llama3.1-8b", "--concurrency", "4",
          "--num-requests", "40", "--input-tokens", "500", "--output-tokens", "50",
          "--warmup-requests", "8", "--no-timing", "--outputs", "summary,report",
          "--out", str(tmp_path / "o")])
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the table wraps
    assert "32: 32 finished" in out and "after 8 warm-up, not measured" in out
    assert "8 warm-up not measured" in (tmp_path / "o" / "report.html").read_text()


def _token_weighted_tpot_s(t: RequestTable, rows: np.ndarray) -> float:
    """Mean inter-token latency of ``rows``' tokens: a request's gaps sum to its
    ``tpot × (output − 1)``, so the token-weighted TPOT is their exact mean ITL."""
    rows = rows & (t.status == 0) & (t.output_tokens >= 2)
    w = (t.output_tokens[rows] - 1).astype(float)
    return float((t.tpot_s[rows] * w).sum() / w.sum())


def test_itl_without_warmup_is_the_token_weighted_tpot() -> None:
    """The identity the warm-up test below relies on (step-merged segments included)."""
    s, t = _run(_source(160, 0, arrival={"process": "poisson", "rate": 20.0}))
    assert s["itl_s"]["mean"] == pytest.approx(
        _token_weighted_tpot_s(t, np.ones(len(t), bool)), rel=0.01)


def test_itl_leaves_the_warmup_out_like_every_other_latency() -> None:
    """Every per-request latency (TTFT, TPOT, e2e) leaves warm-up requests out; the ITL
    percentiles must too: their mean is the measured requests' token-weighted TPOT."""
    s, t = _run(_source(200, 150, arrival={"process": "poisson", "rate": 20.0}))
    measured = _token_weighted_tpot_s(t, ~t.warmup)
    assert abs(_token_weighted_tpot_s(t, t.warmup) / measured - 1) > 0.03  # they differ
    assert s["itl_s"]["mean"] == pytest.approx(measured, rel=0.01)
