"""Serving under failures: replica faults, retried requests, replacement replicas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.serving.serving_builders import LinearStepModel, engine, requests_from, run_main

from gputwin.reliability import faults
from gputwin.serving.fault_plan import FaultPlan, replica_rates_per_s
from gputwin.serving.fleet import Fleet, PoolSpec, ServiceSpec
from gputwin.serving.request import DROPPED, FINISHED


def _requests(n: int = 600, rate_per_s: float = 20.0, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / rate_per_s, n))
    return requests_from([(float(t[i]), int(rng.integers(50, 400)), int(rng.integers(20, 200)))
                          for i in range(n)])


def _plan(rate_per_gpu_hour: float, *, seed: int = 1, restart_s: float = 5.0,
          max_retries: int = 2, detect_s: float = 1.0) -> FaultPlan:
    model = faults.build("gpu", {"rate_per_unit_hour": rate_per_gpu_hour, "detect": detect_s})
    return FaultPlan((model,), {"default": 8}, {"default": restart_s}, max_retries,
                     np.random.default_rng(seed))


def _fleet(reqs: list, plan: FaultPlan | None, replicas: int = 3) -> Fleet:
    pool = PoolSpec(engine(), LinearStepModel(), replicas, 1, "least_outstanding")
    return Fleet([ServiceSpec("default", pool)], reqs, faults=plan)


def test_every_request_accounted_for_and_retried_ones_move():
    reqs = _requests()
    fleet = _fleet(reqs, _plan(400.0))  # a fault every ~9 s per replica
    out = fleet.run()
    assert fleet.faults is not None
    rep = fleet.faults.report("default", 1.0)
    assert rep["faults"] >= 3 and rep["requests_retried"] > 0
    assert sum(s.status in (FINISHED, DROPPED) for s in out.states) == len(reqs)
    failed = {life.replica.id: life.end_s for life in out.lives if life.failed}
    assert len(failed) == rep["faults"]
    retried = [s for s in out.states if s.retries]
    assert len(retried) + rep["requests_failed"] >= 1
    for s in retried:
        if s.status == FINISHED:
            # finished on a replica still alive then
            assert s.replica not in failed or s.finish_s <= failed[s.replica]
    # a replacement per fault: the pool serves with its size again
    assert len(out.lives) == 3 + rep["faults"]


def test_same_seed_same_faults_and_results():
    a = _fleet(_requests(), _plan(400.0, seed=5)).run()
    b = _fleet(_requests(), _plan(400.0, seed=5)).run()
    c = _fleet(_requests(), _plan(400.0, seed=6)).run()
    fa = [s.finish_s for s in a.states]
    assert fa == [s.finish_s for s in b.states]
    assert fa != [s.finish_s for s in c.states]


def test_zero_rate_changes_nothing():
    base = _fleet(_requests(), None).run()
    off = _fleet(_requests(), _plan(0.0)).run()
    assert [s.finish_s for s in base.states] == [s.finish_s for s in off.states]
    assert [s.first_token_s for s in base.states] == [s.first_token_s for s in off.states]


def test_no_retries_drops_with_the_reason():
    fleet = _fleet(_requests(), _plan(400.0, max_retries=0))
    out = fleet.run()
    dropped = [s for s in out.states if s.status == DROPPED]
    assert dropped, "faults at this rate must hit requests in flight"
    assert all("replica failed (gpu fault)" in s.reason for s in dropped)
    assert fleet.faults is not None
    assert fleet.faults.report("default", 1.0)["requests_failed"] == len(dropped)


def test_single_replica_holds_requests_until_the_replacement_serves():
    reqs = _requests(200, rate_per_s=10.0)
    restart = 30.0
    fleet = _fleet(reqs, _plan(200.0, restart_s=restart, detect_s=0.5), replicas=1)
    out = fleet.run()
    fault_times = sorted(life.end_s for life in out.lives if life.failed)
    assert fault_times
    t0 = fault_times[0]
    # nothing finishes while the only replica is down (after the fault, before restart)
    assert not any(s.finish_s is not None and t0 < s.finish_s < t0 + restart
                   for s in out.states)
    assert all(s.status == FINISHED or "replica failed" in s.reason for s in out.states)
    assert any(s.retries and s.status == FINISHED for s in out.states)


def test_tokens_lost_count_the_decoded_tokens():
    reqs = _requests(300, rate_per_s=30.0)
    fleet = _fleet(reqs, _plan(400.0))
    fleet.run()
    assert fleet.faults is not None
    rep = fleet.faults.report("default", 1.0)
    # each retried request had generated between 0 and its output length
    assert 0 < rep["output_tokens_lost"] <= rep["requests_retried"] * 200


def test_rates_follow_the_replica_span():
    gpu = faults.build("gpu", {})
    host = faults.build("host", {})
    planned = faults.build("maintenance", {})
    r8 = dict((m.name, r) for m, r in replica_rates_per_s((gpu, host, planned), 8, 8))
    r16 = dict((m.name, r) for m, r in replica_rates_per_s((gpu, host, planned), 16, 8))
    assert "maintenance" not in r8  # a planned drain loses no request
    assert r16["gpu"] == pytest.approx(2 * r8["gpu"])
    assert r16["host"] == pytest.approx(2 * r8["host"])  # two nodes


SCENARIO = """
name: serve-faults
seed: 3
serving:
  failures: {rate_scale: 1000000, restart: 60s}
  services:
    - {name: chat, model: llama3.1-8b, gpu: h100-sxm-80gb, replicas: 2}
  workload:
    - {kind: synthetic, service: chat, num_requests: 3000, arrival: {process: poisson, rate: 10},
       prompt: {dist: lognormal, mean: 800, median: 500},
       output: {dist: lognormal, mean: 200, median: 120}}
"""


def test_scenario_reports_failures(tmp_path: Path):
    import json

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    assert run_main(["simulate", str(path), "--out", str(tmp_path / "o")]) == 0
    svc = json.loads((tmp_path / "o" / "summary.json").read_text())["services"]["chat"]
    f = svc["failures"]
    assert f["faults"] >= 1
    assert f["replica_down_hours"] == pytest.approx(f["faults"] * 60 / 3600)
    assert svc["finished"] + svc["dropped"] == 3000
    rates = f["fault_rates"]  # which rates the run used, scaled, with their source
    assert "Llama 3" in rates["catalog"] and "maintenance" not in rates["models"]
    assert rates["models"]["gpu"]["source"].startswith("1e+06 x the catalog rate (Llama 3")


def test_restart_defaults_to_reschedule_weights_load_and_engine_start(tmp_path: Path):
    import json

    from gputwin.reliability.faults import restart_defaults

    d = restart_defaults()
    out = {}
    for tier in ("lustre", "object-store"):
        path = tmp_path / f"{tier}.yaml"
        path.write_text(SCENARIO.replace("restart: 60s", f"storage: {tier}"))
        assert run_main(["simulate", str(path), "--out", str(tmp_path / tier)]) == 0
        f = json.loads((tmp_path / tier / "summary.json").read_text())["services"]["chat"][
            "failures"]
        out[tier] = f["replica_down_hours"] * 3600 / f["faults"]
    # 8B weights in BF16 (~16 GB): ~0.4 s from Lustre (40 GB/s/node), ~2 s from the store
    assert out["lustre"] == pytest.approx(d.reschedule_s + d.serving_start_s + 0.4, abs=0.2)
    assert out["object-store"] - out["lustre"] == pytest.approx(1.6, abs=0.3)


def test_unknown_storage_tier_is_a_clear_error(tmp_path: Path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("restart: 60s", "storage: tape"))
    assert run_main(["simulate", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "tape" in err and "serving.failures.storage" in err


def test_unknown_fault_model_is_a_clear_error(tmp_path: Path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("{rate_scale: 1000000, restart: 60s}",
                                     "{models: {gpuu: {}}}"))
    assert run_main(["simulate", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "gpuu" in err and "fault models" in err
    assert not (tmp_path / "o").exists()


def test_replica_faults_across_sites_retry_through_the_router(tmp_path: Path):
    import json

    example = Path(__file__).parents[2] / "examples" / "edge-vs-core.yaml"
    argv = ["simulate", str(example), "--set", "serving.failures.rate_scale=3000000",
            "--set", "serving.failures.restart=30s", "--out", str(tmp_path / "o")]
    assert run_main(argv) == 0
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    faults = sum(svc["failures"]["faults"] for svc in s["services"].values())
    retried = sum(svc["failures"]["requests_retried"] for svc in s["services"].values())
    failed = sum(svc["failures"]["requests_failed"] for svc in s["services"].values())
    assert faults > 0 and retried > 0
    status = s["requests_by_status"]
    assert status["finished"] + status["dropped"] + status["in_flight"] == s["num_requests"]
    assert status["dropped"] == failed
    assert s["failures"]["fault_rates"] == next(iter(s["services"].values()))["failures"][
        "fault_rates"]  # the run's total names the same rates as each service
