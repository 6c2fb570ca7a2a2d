"""``plan serve``: the analytic pruning against confirming everything, the JSON contract,
resumable results, pool == serial, and the optional Ray path."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gputwin.cli.main import cli
from gputwin.errors import InputError
from gputwin.plan.serve import pareto_front
from gputwin.requests import ServePlanRequest, validated
from gputwin.run.plan_confirm import scenario_for
from gputwin.run.plan_serve import ServePlan, plan_serve
from gputwin.run.plan_sweep import run_tasks

#: A small case: an 8B model on one part, a few replica counts, short runs.
SMALL: dict[str, Any] = {
    "model": "llama3.1-8b", "rate": 6.0, "input_tokens": 1024, "output_tokens": 64,
    "ttft_slo": 0.5, "tpot_slo": 0.02, "gpus": ["h100-sxm-80gb"], "weights": ["bf16", "fp8"],
    "kv_caches": ["fp8"], "max_num_seqs": [16, 128], "max_replicas": 4, "num_requests": 150,
    "top": 1000, "finalists": 1000, "max_simulations": 1000, "engines": ["vllm"],
}
CLI_SMALL = ["plan", "serve", "--model", "llama3.1-8b", "--rate", "6", "--input-tokens", "1024",
             "--output-tokens", "64", "--ttft-slo", "500ms", "--tpot-slo", "20ms", "--gpu",
             "h100-sxm-80gb", "--kv-cache", "fp8", "--max-num-seqs", "128",
             "--max-replicas", "4", "--num-requests", "150", "--workers", "1", "--top", "3"]


def _plan(**changes: Any) -> ServePlan:
    workers = changes.pop("workers", 2)
    out_dir = changes.pop("out_dir", None)
    return plan_serve(ServePlanRequest(**{**SMALL, **changes}), workers=workers,
                      out_dir=out_dir)


def _shape(key: str) -> str:
    """The key without the replica count and the engine batch limit."""
    parts = key.split("/")
    return "/".join(p for p in parts[:-1] if not p.startswith("seqs"))


def _replicas(row: dict[str, Any]) -> int:
    return int(row["replicas"]) or int(row["prefill_replicas"] + row["decode_replicas"])


@pytest.fixture(scope="module")
def full() -> ServePlan:
    return _plan(prune=False)


@pytest.fixture(scope="module")
def pruned() -> ServePlan:
    return _plan()


def test_pruning_keeps_the_cheapest_accepted_deployment_of_every_layout(
        full: ServePlan, pruned: ServePlan) -> None:
    accepted: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in full.rows:
        if row["slo_met"]:
            accepted[_shape(row["key"])].append(row)
    assert accepted, "the small case must have deployments that meet the SLOs"
    kept = {c.deployment.key() for c in pruned.search.candidates}
    for shape, rows in accepted.items():
        fewest = min(_replicas(r) for r in rows)
        # the max_num_seqs limits that did not bind are equivalent: one of them is enough
        assert any(r["key"] in kept for r in rows if _replicas(r) == fewest), (
            f"pruning dropped every {shape} with {fewest} replica(s)")
    assert len(pruned.search.candidates) < len(full.search.candidates)
    assert sum(pruned.search.rejected.values()) > 0


def test_pruned_search_finds_the_same_best_cost(full: ServePlan, pruned: ServePlan) -> None:
    assert pruned.passed and full.passed
    assert pruned.passed[0]["cost_usd_per_million_tokens"] == pytest.approx(
        full.passed[0]["cost_usd_per_million_tokens"])
    assert pruned.num_simulated < full.num_simulated


def test_every_candidate_met_its_slos_in_simulation(pruned: ServePlan) -> None:
    d = pruned.to_dict()
    assert d["candidates"]
    for c in d["candidates"]:
        assert c["slo_met"] is True
        assert c["ttft_s"]["p99"] <= SMALL["ttft_slo"]
        assert c["tpot_s"]["p99"] <= SMALL["tpot_slo"]
        assert c["cost_usd_per_million_tokens"] > 0
        assert c["finished"] == c["num_requests"] == SMALL["num_requests"]
    costs = [c["cost_usd_per_million_tokens"] for c in d["candidates"]]
    assert costs == sorted(costs)


def test_cli_json_contract(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, [*CLI_SMALL, "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert 1 <= len(d["candidates"]) <= 3
    for c in d["candidates"]:
        assert isinstance(c["cost_usd_per_million_tokens"], float)
        assert c["slo_met"] is True
        assert c["gpus"] == c["tp"] * c["pp"] * c["dp_attention"] * c["replicas"]
        assert set(c["ttft_s"]) >= {"p50", "p90", "p99"}
        assert c["price_estimated"] is False  # H100 SXM neocloud on-demand is a listed rate
    front = [(c["cost_usd_per_million_tokens"], c["e2e_s"]["p99"]) for c in d["pareto"]]
    assert front and all(c["slo_met"] for c in d["pareto"])
    assert len(pareto_front(front)) == len(front)  # nothing on the front dominates another
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Pareto front" in html and "Plotly.newPlot" in html
    assert (tmp_path / "candidates.parquet").is_file()
    again = CliRunner().invoke(cli, [*CLI_SMALL, "--json", "--out", str(tmp_path)])
    assert again.exit_code == 0, again.output  # its own files: resumed, not refused
    assert json.loads(again.output)["num_resumed"] == d["num_simulated"] > 0


def test_rerun_skips_what_is_done(tmp_path: Path) -> None:
    first = _plan(out_dir=tmp_path, top=2, finalists=4)
    assert first.num_simulated > 0 and first.num_resumed == 0
    again = _plan(out_dir=tmp_path, top=2, finalists=4)
    assert again.num_simulated == 0
    assert again.num_resumed == first.num_simulated
    assert [r["key"] for r in again.passed] == [r["key"] for r in first.passed]
    other_seed = _plan(out_dir=tmp_path, top=2, finalists=4, seed=1)
    assert other_seed.num_resumed == 0 and other_seed.num_simulated > 0


def _without_wall(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "sim_wall_s"} for r in rows]


def test_local_pool_matches_serial() -> None:
    serial = _plan(workers=1, top=3, finalists=6)
    pool = _plan(workers=3, top=3, finalists=6)
    assert _without_wall(serial.rows) == _without_wall(pool.rows)


def test_ray_absent_is_a_clear_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(InputError, match=r"gputwin\[ray\]"):
        run_tasks(lambda t: {"t": t}, [1], ray_address="local")


def test_ray_local_matches_serial() -> None:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (gputwin[ray])")
    try:
        serial = _plan(workers=1, top=2, finalists=4)
        on_ray = plan_serve(ServePlanRequest(**{**SMALL, "top": 2, "finalists": 4}),
                            ray_address="local")
    finally:
        ray.shutdown()
    assert _without_wall(serial.rows) == _without_wall(on_ray.rows)


@pytest.mark.parametrize(("changes", "where"), [
    ({"ttft_slo": None, "tpot_slo": None}, "--ttft-slo"),
    ({"rate": None}, "--rate"),
    ({"gpus": ["no-such-gpu"]}, "--gpu"),
])
def test_bad_requests_name_the_option(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as err:
        _plan(**changes)
    assert where in str(err.value)


def test_lengths_beyond_the_model_context_are_refused_before_searching() -> None:
    """Every simulated request would be dropped (the text named an engine's token budget)."""
    with pytest.raises(InputError, match=r"exceeds the 131072-token context of llama3\.1-8b"):
        _plan(input_tokens=131_000, output_tokens=500)


def test_a_failed_confirmation_renders_with_its_reason() -> None:
    """A deployment whose simulation is refused keeps its reason and empty percentiles in
    the JSON (its record once lacked the percentile keys: KeyError 'ttft_p50_s')."""
    from gputwin.run.plan_confirm import _failed, candidate_dict

    row = {k: 0 for k in ("key", "gpu", "tp", "pp", "ep", "dp_attention", "weights",
                          "kv_cache", "max_num_seqs", "engine", "replicas",
                          "prefill_replicas", "decode_replicas", "gpus", "usd_per_hour",
                          "analytic_ttft_s", "analytic_tpot_s", "analytic_e2e_s",
                          "analytic_cost_usd_per_million_tokens")}
    out = candidate_dict(_failed(row, "does not fit"))
    assert out["error"] == "does not fit"
    assert out["ttft_s"] == {"p50": None, "p90": None, "p99": None, "at_slo_percentile": None}


@pytest.mark.parametrize(("extra", "needle"), [
    (["--rate", "-1"], "error: --rate: Input should be greater than 0"),
    (["--max-num-seqs", "0"], "error: --max-num-seqs: Input should be greater than 0"),
    # was: a search that never ended (a loop to 10^20 replicas)
    (["--max-replicas", "99999999999999999999"], "error: --max-replicas: got "
     "99,999,999,999,999,999,999, above the limit of 10,000 replicas per service"),
    # was: "plan serve: cannot build the confirming scenario: 1 validation error for
    # ServingScenario" and three more lines, after the search
    (["--num-requests", "99999999999999999999"], "error: --num-requests: got "
     "99,999,999,999,999,999,999, above the limit of 5,000,000 requests"),
])
def test_cli_names_the_option_the_request_refuses(extra: list[str], needle: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from gputwin.cli.main import main

    with pytest.raises(SystemExit) as done:
        main([*CLI_SMALL, *extra])
    assert done.value.code == 2 and needle in capsys.readouterr().err


def test_pareto_front_keeps_only_non_dominated_points() -> None:
    pts = [(1.0, 9.0), (2.0, 5.0), (2.5, 6.0), (3.0, 1.0), (4.0, 1.0)]
    assert pareto_front(pts) == [0, 1, 3]


def _azure_trace(path: Path, n: int, rate: float) -> Path:
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(n):
        t = i / rate
        lines.append(f"2023-11-16 18:{int(t // 60):02d}:{t % 60:010.7f},"
                     f"{200 + (i * 37) % 900},{20 + (i * 13) % 80}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_trace_sets_the_traffic_and_is_replayed(tmp_path: Path) -> None:
    trace = _azure_trace(tmp_path / "trace.csv", 120, rate=4.0)
    plan = _plan(rate=None, input_tokens=None, output_tokens=None, trace=str(trace),
                 weights=["fp8"], max_num_seqs=[128], top=2, finalists=4)
    assert plan.traffic.rate_per_s == pytest.approx(4.0, rel=0.02)
    assert plan.traffic.input_tokens_min == 200
    assert plan.passed
    assert all(r["num_requests"] == 120 for r in plan.rows)


def test_a_traces_skipped_rows_are_reported(tmp_path: Path) -> None:
    trace = _azure_trace(tmp_path / "trace.csv", 60, rate=4.0)
    trace.write_text(trace.read_text() + "2023-11-16 18:00:59.0,300,0\n", encoding="utf-8")
    plan = _plan(rate=None, input_tokens=None, output_tokens=None, trace=str(trace),
                 weights=["fp8"], max_num_seqs=[128], top=1, finalists=2)
    assert plan.traffic.trace_rows_skipped == (("0 generated tokens", 1),)
    assert plan.to_dict()["traffic"]["trace_rows_skipped"] == {"0 generated tokens": 1}
    assert all(r["num_requests"] == 60 for r in plan.rows)


def test_a_burstgpt_trace_is_planned_on_the_rows_its_filters_keep(tmp_path: Path) -> None:
    rows = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"]
    for i in range(90):  # every third row is GPT-4's
        model = "GPT-4" if i % 3 == 2 else "ChatGPT"
        rows.append(f"{i * 0.25:.2f},{model},{300 + i},40,{340 + i},Conversation log")
    trace = tmp_path / "b.csv"
    trace.write_text("\n".join(rows) + "\n", encoding="utf-8")
    plan = _plan(rate=None, input_tokens=None, output_tokens=None, trace=str(trace),
                 trace_format="burstgpt", trace_model="ChatGPT", weights=["fp8"],
                 max_num_seqs=[128], top=1, finalists=2)
    assert plan.traffic.trace_rows_skipped == (("another model (the model filter)", 30),)
    assert all(r["num_requests"] == 60 for r in plan.rows)
    with pytest.raises(InputError, match="--trace-model: filters the rows of a BurstGPT "
                                         "trace; this trace is azure"):
        validated(ServePlanRequest, {**SMALL, "rate": None, "input_tokens": None,
                                     "output_tokens": None, "trace": str(trace),
                                     "trace_model": "ChatGPT"},
                  where=lambda f: "--" + f.replace("_", "-"))  # azure has no Model column


def test_cli_text_mode_prints_the_ranking() -> None:
    res = CliRunner().invoke(cli, CLI_SMALL)
    assert res.exit_code == 0, res.output
    assert "h100-sxm-80gb" in res.output and "$/M tok" in res.output
    text = " ".join(res.output.split())  # the console wraps long lines
    assert "met the SLOs" in text and "capacity 0" not in text  # no empty reasons


def test_cli_ray_without_ray_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    res = CliRunner().invoke(cli, [*CLI_SMALL, "--ray-address", "local"])
    assert isinstance(res.exception, InputError)  # main() turns it into exit code 2
    assert "gputwin[ray]" in str(res.exception)


def test_pruning_keeps_the_cheapest_accepted_with_disaggregation() -> None:
    small = {"disaggregate": True, "weights": ["fp8"], "max_num_seqs": [128]}
    full, pruned = _plan(prune=False, **small), _plan(**small)
    accepted: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in full.rows:
        if row["slo_met"]:
            accepted[_shape(row["key"])].append(row)
    disagg = [r for rows in accepted.values() for r in rows if r["prefill_replicas"]]
    assert disagg, "no prefill:decode deployment met the SLOs"
    for r in disagg:
        assert r["gpus"] == (r["prefill_replicas"] + r["decode_replicas"]) * r["tp"] * r["pp"]
    kept = {c.deployment.key() for c in pruned.search.candidates}
    for shape, rows in accepted.items():
        fewest = min(_replicas(r) for r in rows)
        assert any(r["key"] in kept for r in rows if _replicas(r) == fewest), shape


def test_a_huge_replica_slack_stops_at_max_replicas_when_disaggregated() -> None:
    # was: a prefill loop over 10^20 counts that never ended (max_replicas bounded only
    # the decode pool)
    plan = _plan(disaggregate=True, replica_slack=10**20, weights=["fp8"],
                 max_num_seqs=[128], max_simulations=1)
    assert plan.search.candidates
    assert all(c.deployment.prefill_replicas + c.deployment.decode_replicas <= 4
               for c in plan.search.candidates if c.deployment.disaggregated)


def test_impossible_slo_is_pruned_by_the_lone_request_bound() -> None:
    plan = _plan(ttft_slo=1e-4, tpot_slo=None)  # no prompt prefills in 0.1 ms
    assert plan.search.candidates == [] and plan.num_simulated == 0
    assert plan.search.rejected["ttft"] > 0
    assert plan.to_dict()["candidates"] == []


def test_engines_are_searched_and_confirmed_with_their_profile() -> None:
    plan = _plan(engines=["vllm", "trtllm"], weights=["fp8"], max_num_seqs=[128],
                 max_replicas=2, workers=1)
    engines = {c.deployment.replica.engine for c in plan.search.candidates}
    assert engines == {"vllm", "trtllm"}
    confirmed = {row["engine"] for row in plan.rows}
    assert confirmed == {"vllm", "trtllm"}
    # the same layout under the two profiles is estimated differently (own overheads)
    by_engine = {c.deployment.replica.engine: c.analytic.tpot_s
                 for c in plan.search.candidates if c.deployment.replicas == 2}
    assert by_engine["vllm"] != by_engine["trtllm"]
    trt = next(c.deployment for c in plan.search.candidates
               if c.deployment.replica.engine == "trtllm")
    scenario = scenario_for(ServePlanRequest(**SMALL), trt, None)
    assert scenario.serving.services[0].engine.name == "trtllm"


def test_the_default_search_tries_current_engines_and_releases_only_when_named() -> None:
    """Release profiles of older versions (vllm-v0, sglang-0.3, trtllm-0.20) describe past
    benchmarks; a plan tries today's engines unless one is named."""
    from gputwin.perf.engines import current_engine_names, engine_names, engine_profile
    from gputwin.run.plan_serve import engine_choices

    current = current_engine_names()
    assert set(current) == {"vllm", "sglang", "trtllm"}
    assert all(engine_profile(e).base is None for e in current)
    assert set(engine_names()) - set(current)  # the release profiles exist
    assert engine_choices(ServePlanRequest(**{**SMALL, "engines": None})) == current
    named = engine_choices(ServePlanRequest(**{**SMALL, "engines": ["vllm-v0", "vllm"]}))
    assert named == ("vllm-v0", "vllm")


def test_an_unknown_engine_names_the_option() -> None:
    with pytest.raises(InputError, match="unknown engine") as err:
        _plan(engines=["vllm", "tgi"])
    assert "--engine" in str(err.value)


def test_planner_prices_trtllm_attention_dp_with_per_rank_limits() -> None:
    # the analytic replica must hold the limits the confirming simulation resolves:
    # TensorRT-LLM counts max_num_seqs per attention-DP rank, vLLM per replica
    from gputwin.catalog.loader import default_catalog
    from gputwin.plan.serve import ReplicaChoice, ServeSearch, Slo, _Searcher
    from gputwin.plan.serve_replica import Traffic
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="h200-sxm-141gb")
    search = ServeSearch(cat.model("deepseek-v3"), {"h200-sxm-141gb": hw},
                         {"h200-sxm-141gb": 1e-3}, Traffic(10.0, 1000, 200, 1000, 1000, 200),
                         Slo(ttft_s=2.0))
    seqs = {}
    for engine in ("trtllm", "vllm"):
        shape = ReplicaChoice("h200-sxm-141gb", 1, 1, 8, "fp8", "fp8", 256, engine,
                              dp_attention=8)
        model = _Searcher(search)._model(shape)
        assert model is not None
        seqs[engine] = model.perf.config.max_num_seqs
    assert seqs == {"trtllm": 8 * 256, "vllm": 256}


def test_concurrent_users_are_planned_with_a_closed_loop() -> None:
    # 24 users, no think time: the SLOs bound a request at 0.5 + 63 x 0.02 = 1.76 s, so a
    # deployment meeting them serves at least 24 / 1.76 = 13.6 requests per second
    plan = _plan(rate=None, concurrency=24, weights=["fp8"], max_num_seqs=[128], top=2,
                 finalists=4, num_requests=None)
    assert plan.traffic.rate_per_s == pytest.approx(24 / (0.5 + 63 * 0.02))
    assert plan.passed
    for row in plan.passed:
        assert row["num_requests"] == 600  # 8 per user, at least 600
        assert (row["goodput_steady_rps"] * (0.5 + 63 * 0.02)
                >= 24 * 0.9 * row["slo_attainment_frac"])
    dep = plan.search.candidates[0].deployment
    src = scenario_for(plan.request, dep, None).serving.workload[0]
    assert getattr(src, "concurrency", None) == 24 and getattr(src, "arrival", 1) is None


def test_think_time_lowers_the_rate_users_need() -> None:
    plan = _plan(rate=None, concurrency=24, think_time=2.0, weights=["fp8"],
                 max_num_seqs=[128], top=1, finalists=2, num_requests=None)
    assert plan.traffic.rate_per_s == pytest.approx(24 / (0.5 + 63 * 0.02 + 2.0))
    src = scenario_for(plan.request, plan.search.candidates[0].deployment, None)
    assert getattr(src.serving.workload[0], "think_time", None) == 2.0


@pytest.mark.parametrize(("changes", "match"), [
    ({"concurrency": 8},
     "^--concurrency: give only one of --rate, --concurrency or --trace, not both$"),
    ({"think_time": 2.0}, "--think-time"),
    ({"rate": None, "concurrency": 8, "tpot_slo": None}, "--e2e-slo"),
])
def test_bad_concurrency_requests(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        _plan(**changes)


def test_the_planner_pairs_engines_only_with_parts_they_run_on() -> None:
    plan = _plan(gpus=["h100-sxm-80gb", "mi300x"], engines=["vllm", "trtllm"],
                 weights=["fp8"], max_num_seqs=[128], top=1000, finalists=1000,
                 max_replicas=2, workers=1)
    pairs = {(c.deployment.replica.gpu, c.deployment.replica.engine)
             for c in plan.search.candidates}
    assert ("mi300x", "vllm") in pairs and ("h100-sxm-80gb", "trtllm") in pairs
    assert ("mi300x", "trtllm") not in pairs


def test_estimated_prices_are_flagged_in_the_ranking(tmp_path: Path) -> None:
    """GB300 has no published rental rate: its candidates carry ``price_estimated`` and
    the table (text and report) marks their prices with ~ and says why."""
    base = [a for a in CLI_SMALL if a not in ("--gpu", "h100-sxm-80gb")]
    res = CliRunner().invoke(cli, [*base, "--gpu", "gb300", "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["candidates"] and all(c["price_estimated"] for c in d["candidates"])
    assert "ESTIMATE" in d["price_basis"]["gb300"]
    assert "~ estimated price" in (tmp_path / "report.html").read_text(encoding="utf-8")
    text = CliRunner().invoke(cli, [*base, "--gpu", "gb300"]).output
    assert "~ estimated price" in text and "~" in text.split("~ estimated price")[0]


def test_out_folder_with_other_files_is_refused_before_searching(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gputwin.cli.main import main

    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(SystemExit) as done:
        main([*CLI_SMALL, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and f"--out {tmp_path}: folder holds 1 file(s)" in err
    assert "mine.txt" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_out_folder_with_a_foreign_candidates_file_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "candidates.parquet")
    with pytest.raises(InputError, match="not written by `gputwin plan serve`"):
        _plan(out_dir=tmp_path, top=2, finalists=4)


def test_named_fp4_weights_are_searched_weight_only_where_the_part_lacks_fp4_cores() -> None:
    from gputwin.catalog.loader import default_catalog
    from gputwin.plan.serve import search_deployments
    from gputwin.run.plan_serve import build_search

    named = ServePlanRequest(**{**SMALL, "weights": ["fp4"]})
    result = search_deployments(build_search(named, default_catalog())[0])
    assert result.candidates
    assert {c.deployment.replica.weights for c in result.candidates} == {"fp4"}
    default = ServePlanRequest(**{**SMALL, "weights": None})
    searched = search_deployments(build_search(default, default_catalog())[0])
    assert "fp4" not in {c.deployment.replica.weights for c in searched.candidates}


@pytest.mark.parametrize(("extra", "needles"), [
    # no shape fits: refused with the reasons, exit 2, as plan train's "no layout fits"
    (["--model", "llama3.1-405b", "--gpu", "l4", "--max-tp", "1"],
     ["no replica shape of llama3.1-405b on l4 can run", "refused: memory"]),
    # no engine pairs with the part: nothing to build, and why
    (["--engine", "trtllm", "--gpu", "mi300x"],
     ["no replica shape to search", "trtllm run on none of mi300x"]),
])
def test_a_search_where_nothing_can_run_is_refused_with_the_reasons(
        extra: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from gputwin.cli.main import main

    with pytest.raises(SystemExit) as done:
        main([*CLI_SMALL, *extra])
    err = capsys.readouterr().err
    assert done.value.code == 2 and all(n in err for n in needles), err


def test_cli_says_why_no_deployment_was_kept() -> None:
    res = CliRunner().invoke(cli, [*CLI_SMALL, "--ttft-slo", "0.1ms"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "not kept: ttft" in text and "no deployment can meet the SLOs" in text


def test_an_owned_fleet_is_priced_per_wall_clock_hour_as_in_estimate_tco() -> None:
    """Replicas are held every second, and plan serve has no energy ledger to bill the
    power the ledger's owned rate leaves apart. The fleet's rate is the owned TCO per
    GPU-hour on a serving fabric, power included, the rate ``estimate tco`` prices its owned
    fleet at (tests/economics/test_one_owned_rate.py checks all three commands)."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.energy.tco import SERVING_NETWORK, OwnedAssumptions, owned_cost
    from gputwin.run.plan_serve import priced_hardware
    from gputwin.topology.hardware import resolve_hardware

    req = ServePlanRequest(**{**SMALL, "provider": "owned"})
    _, priced = priced_hardware(req, default_catalog())
    rates = priced["h100-sxm-80gb"]
    hw = resolve_hardware(default_catalog(), gpu="h100-sxm-80gb")
    own = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(network=SERVING_NETWORK))
    assert rates.compute_usd_per_gpu_s * 3600 == pytest.approx(own.usd_per_gpu_hour)
    assert rates.energy_in_price and "wall clock" in rates.cost_basis
    rented = priced_hardware(ServePlanRequest(**SMALL), default_catalog())[1]
    assert rented["h100-sxm-80gb"].cost_basis.startswith("rental")


def test_plan_goodput_is_per_second_of_the_steady_arrival_window() -> None:
    """``plan serve``'s goodput counts the requests arriving after the first 10 % of the
    window that finished within every SLO, per second of that steady window (n arrivals
    span n gaps): the planned load x attainment, named ``goodput_steady_rps``."""
    from types import SimpleNamespace

    import numpy as np

    from gputwin.plan.serve import Slo
    from gputwin.run.plan_confirm import WARMUP_FRAC, measure

    n = 101
    arrival = np.arange(n, dtype=float)  # one request a second over 100 s
    ttft = np.where(np.arange(n) % 4 == 0, 2.0, 0.1)  # every 4th misses a 1 s TTFT SLO
    table = SimpleNamespace(arrival_s=arrival, status=np.zeros(n, dtype=int), ttft_s=ttft,
                            tpot_s=np.full(n, 0.01), e2e_s=ttft + 1.0,
                            prompt_tokens=np.full(n, 100), output_tokens=np.full(n, 10))
    row = measure(table, Slo(1.0, None, None, 99.0))
    steady = arrival >= WARMUP_FRAC * 100
    good = steady & (ttft <= 1.0)
    span = 100 * (1 - WARMUP_FRAC) * steady.sum() / (steady.sum() - 1)
    assert "goodput_rps" not in row and "goodput_tokens_per_s" not in row
    assert row["goodput_steady_rps"] == pytest.approx(good.sum() / span)
    assert row["goodput_steady_tokens_per_s"] == pytest.approx(110 * good.sum() / span)
    assert row["goodput_steady_rps"] == pytest.approx(
        steady.sum() / span * row["slo_attainment_frac"])


def test_stored_rows_are_not_reused_at_other_prices() -> None:
    """``candidates.parquet`` rows carry their cost: a rerun after a price book edit or a
    new cost rule must simulate again rather than reuse rows costed at the old rates."""
    from gputwin.run.plan_store import fingerprint

    req = ServePlanRequest(**SMALL)
    fp = fingerprint(req, {"h100-sxm-80gb": 3.0 / 3600})
    assert fp == fingerprint(req, {"h100-sxm-80gb": 3.0 / 3600})
    assert fp != fingerprint(req, {"h100-sxm-80gb": 1.78 / 3600})
