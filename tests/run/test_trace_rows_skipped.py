"""Runs tell which rows of their trace they left out: nothing is dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.workload.test_trace_readers import SWF  # 4 jobs, one without a run time

from gputwin.cli.main import cli
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

AZURE = ("TIMESTAMP,ContextTokens,GeneratedTokens\n"
         "2023-11-16 18:15:40.0,300,20\n2023-11-16 18:15:41.0,120,0\n"
         "2023-11-16 18:15:42.0,80,5\n2023-11-16 18:15:43.0,64,0\n")


def _told_in_output_and_report(args: list[str], out: Path, told: str) -> None:
    """The CLI's text output and the run's HTML report header both say ``told``."""
    res = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert told in res.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"<span>trace <b>{told}</b></span>" in page


def test_a_cluster_run_reports_the_trace_rows_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "log.swf").write_text(SWF, encoding="utf-8")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: swf-skips\nseed: 1\ncluster: {system: dgx-h100, num_nodes: 2}\n"
                        "workload: {trace: {format: swf, path: log.swf}}\n", encoding="utf-8")
    s = simulate(load_scenario(scenario)).summary
    assert s["trace_rows_skipped"] == {"no run time": 1}
    assert s["num_jobs"] + sum(s["trace_rows_skipped"].values()) == 4  # every row accounted
    _told_in_output_and_report(["simulate", str(scenario)], tmp_path / "o",
                               "1 row left out (no run time: 1)")


def test_a_serving_run_reports_the_trace_rows_it_skipped(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(AZURE, encoding="utf-8")
    args = ["simulate", "serve", "--model", "llama3.1-8b", "--gpu", "l4", "--trace", str(trace)]
    res = CliRunner().invoke(cli, [*args, "--json", "--outputs", "none"])  # no gputwin-out/
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["trace_rows_skipped"] == {"0 generated tokens": 2}
    assert s["num_requests"] == 2
    _told_in_output_and_report(args, tmp_path / "o",
                               "2 rows left out (0 generated tokens: 2)")


def test_a_run_without_skipped_rows_says_nothing_about_them(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:40.0,30,4\n",
                     encoding="utf-8")
    res = CliRunner().invoke(cli, ["simulate", "serve", "--model", "llama3.1-8b", "--gpu",
                                   "l4", "--trace", str(trace), "--json", "--outputs", "none"])
    assert res.exit_code == 0, res.output
    assert "trace_rows_skipped" not in json.loads(res.output)


def test_a_shared_fleet_reports_its_serving_trace_rows_skipped(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(AZURE, encoding="utf-8")
    scenario = tmp_path / "shared.yaml"
    scenario.write_text(
        "name: shared-skips\nseed: 1\ncluster: {system: dgx-h100, num_nodes: 1}\n"
        "workload:\n  synthetic:\n    num_jobs: 1\n    arrival: {mean_interarrival: 1h}\n"
        "    templates: [{kind: finetune, model: llama3-8b, num_gpus: [4],"
        " global_batch_size: 64, seq_len: 2048, tokens: 1e6}]\n"
        "scheduler: {profile: priority}\n"
        "serving:\n  services: [{name: chat, model: llama3.1-8b, replicas: 1}]\n"
        "  workload: [{kind: trace, service: chat, format: azure, path: t.csv}]\n",
        encoding="utf-8")
    s = simulate(load_scenario(scenario)).summary
    assert s["serving"]["trace_rows_skipped"] == {"0 generated tokens": 2}
    assert s["serving"]["num_requests"] == 2
    out = CliRunner().invoke(cli, ["simulate", str(scenario), "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "serving trace: 2 rows left out (0 generated tokens: 2)" in out.output


def test_a_prefix_id_trace_reports_the_bound_its_cache_hits_stay_under(tmp_path: Path) -> None:
    lines = []
    for i in range(40):  # ten conversations of four turns, each turn one block longer
        conv, turn = i % 10, i // 10
        ids = [1000 * conv + k for k in range(turn + 2)]
        lines.append(json.dumps({"timestamp": 500 * i, "input_length": 512 * len(ids),
                                 "output_length": 16, "hash_ids": ids}))
    trace = tmp_path / "m.jsonl"
    trace.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["simulate", "serve", "--model", "llama3.1-8b", "--gpu",
                                   "h100-sxm-80gb", "--trace", str(trace), "--trace-format",
                                   "mooncake", "--json", "--outputs", "summary,report",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    # turn t (t = 0..3) sends t + 2 blocks of which t + 1 were sent before, except turn 0
    sent = sum(10 * (t + 2) for t in range(4))
    assert s["trace_prefix_reuse_frac"] == pytest.approx(sum(10 * (t + 1)
                                                             for t in range(1, 4)) / sent)
    assert 0.0 < s["prefix_cache_hit_frac"] <= s["trace_prefix_reuse_frac"] + 1e-9
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert f"the trace allows {s['trace_prefix_reuse_frac']:.1%}" in page


def test_a_multi_site_run_reports_the_trace_rows_it_skipped(tmp_path: Path) -> None:
    from gputwin.run.simulate_serve import simulate_serving
    from gputwin.scenario.serving import load_serving_scenario

    example = Path(__file__).resolve().parents[2] / "examples" / "edge-vs-core.yaml"
    text = example.read_text(encoding="utf-8")
    start = text.index("  workload:\n")
    end = text.index("variants:")
    (tmp_path / "t.csv").write_text(AZURE, encoding="utf-8")
    replay = "  workload:\n    - {kind: trace, service: chat, format: azure, path: t.csv}\n"
    scenario = tmp_path / "sites.yaml"
    scenario.write_text(text[:start] + replay + text[end:], encoding="utf-8")
    s = simulate_serving(load_serving_scenario(scenario)).summary
    assert s["trace_rows_skipped"] == {"0 generated tokens": 2}
    assert s["num_requests"] == 2
