"""Golden determinism: the fast engine gives the reference engine's summary.

The reference is not a stored file: it is a run of the same scenario with the shortcuts off
(``skip_decode_steps: false`` runs the engine step by step, calling the step model for every
step: no decode stretches, no cost line, no arrival skipping). Everything in summary.json
must agree within 1e-9 relative, except the ITL statistics, which come from a log-binned
histogram (1 % bins) that a stretch fills by spreading its steps uniformly: those agree
within the bin width. Same seed, same mode => byte-identical summary.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from gputwin.run.serving_summary import request_record
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.load import resolve_scenario_path
from gputwin.scenario.paths import data_dir
from gputwin.scenario.serving import ServingScenario, load_serving_scenario

MOONCAKE = data_dir() / "traces" / "mooncake-fast25" / "conversation_trace.jsonl"
_RUN_KEYS = ("wall_time_s", "num_events", "requests_per_wall_s")


def _default(skip: bool) -> ServingScenario:
    ov = [] if skip else ["serving.services.0.engine.skip_decode_steps=false"]
    return load_serving_scenario(resolve_scenario_path("serve-default"), ov)


def _mooncake(skip: bool) -> ServingScenario:
    return ServingScenario.model_validate({"name": "moon", "serving": {"services": [
        {"name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb", "tp": 2,
         "replicas": 2, "router": "prefix_affinity",
         "engine": {"skip_decode_steps": skip, "max_num_seqs": 64}}],
        "workload": [{"kind": "trace", "service": "chat", "format": "mooncake",
                      "path": str(MOONCAKE), "max_requests": 1000}]}})


def _summary(sc: ServingScenario) -> dict[str, Any]:
    s = dict(simulate_serving(sc).summary)
    for k in _RUN_KEYS:
        s.pop(k)
    return s


def _mismatches(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [m for k in a for m in _mismatches(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, float) or isinstance(b, float):
        rel = 0.01 if "/itl_s/" in path else 1e-9
        if a is None or b is None or not math.isclose(a, b, rel_tol=rel, abs_tol=1e-12):
            return [f"{path}: {a} != {b}"]
        return []
    return [] if a == b else [f"{path}: {a} != {b}"]


def _check(build: Any) -> None:
    fast, slow = _summary(build(True)), _summary(build(False))
    assert fast["requests_by_status"]["finished"] > 0
    assert _mismatches(fast, slow) == []


def test_serve_default_matches_the_step_by_step_reference() -> None:
    _check(_default)


@pytest.mark.skipif(not MOONCAKE.is_file(), reason=f"real Mooncake trace absent: {MOONCAKE}")
def test_mooncake_sample_matches_the_step_by_step_reference() -> None:
    _check(_mooncake)


def test_same_seed_same_summary_json() -> None:
    a, b = _summary(_default(True)), _summary(_default(True))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_request_table_rows_equal_the_per_request_records() -> None:
    """The columnar table (numpy) and the per-object record builder agree row by row."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.run.serving_build import build_service
    from gputwin.run.serving_requests import build_requests
    from gputwin.run.serving_summary import request_table
    from gputwin.serving.fleet import Fleet
    from gputwin.sim.rng import RandomStreams

    sc = load_serving_scenario(resolve_scenario_path("serve-default"),
                               ["serving.workload.0.num_requests=400", "horizon=15"])
    built = [build_service(s, default_catalog()) for s in sc.serving.services]
    out = Fleet([b[0] for b in built], build_requests(sc, RandomStreams(sc.seed)),
                horizon_s=sc.horizon).run()
    metas = {m.name: m for _, m, _ in built}
    table = request_table(out.states, metas)
    rows = [request_record(st, metas[st.spec.service]) for st in out.states]
    assert {r.status for r in rows} >= {"finished", "in_flight"}  # both paths exercised
    assert list(table) == rows
    assert table[5] == rows[5] and table[-1] == rows[-1]


def _fleet_variant(extra: dict[str, Any], **top: Any) -> Any:
    def build(skip: bool) -> ServingScenario:
        service = {"name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb",
                   "replicas": 2, "engine": {"skip_decode_steps": skip}, **extra}
        return ServingScenario.model_validate({"name": "variant", **top, "serving": {
            "services": [service], "workload": [
                {"kind": "synthetic", "service": "chat", "num_requests": 600,
                 "arrival": {"process": "poisson", "rate": 25},
                 "prompt": {"dist": "lognormal", "mean": 900, "median": 500, "high": 8000},
                 "output": {"dist": "lognormal", "mean": 200, "median": 120,
                            "high": 2000}}]}})
    return build


@pytest.mark.parametrize(("extra", "top"), [
    ({"replicas": 1, "disaggregation": {"prefill_replicas": 1, "decode_replicas": 2}}, {}),
    ({"replicas": 1, "autoscaler": {"metric": "utilization", "target": 0.5,
                                    "interval": "3s", "min_replicas": 1,
                                    "max_replicas": 3}}, {}),
    ({"router": "kv_aware", "replicas": 3}, {}),
    ({}, {"horizon": 13.7}),
], ids=["disaggregated", "autoscaled-utilization", "kv-aware", "horizon"])
def test_fleet_variants_match_the_step_by_step_reference(extra: dict[str, Any],
                                                         top: dict[str, Any]) -> None:
    """Routers, autoscaling and horizons read the replicas mid-segment (busy time, KV in
    use, tokens so far): the shortcuts must give the reference's answers there too."""
    _check(_fleet_variant(extra, **top))


def _wide_fleet(skip: bool) -> ServingScenario:
    """The 64-replica benchmark case (bench/bench_serve.py million), scaled down."""
    return ServingScenario.model_validate({"name": "wide", "serving": {"services": [
        {"name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb", "replicas": 64,
         "router": "least_outstanding", "engine": {"skip_decode_steps": skip}}],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 4000,
                      "arrival": {"process": "poisson", "rate": 400},
                      "prompt": {"dist": "lognormal", "mean": 1000, "median": 600,
                                 "high": 16000},
                      "output": {"dist": "lognormal", "mean": 250, "median": 150,
                                 "high": 4000}}]}})


def test_64_replicas_match_the_step_by_step_reference() -> None:
    """Many replicas behind the least-outstanding router: the router reads every
    replica's counter at each arrival, so a shortcut that moved a finish or an admission
    by one step would send requests elsewhere and change the summary."""
    _check(_wide_fleet)
