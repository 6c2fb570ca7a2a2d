"""`gputwin simulate serve` and serving scenario files through the real CLI entry point."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from serving_builders import run_main

_main = run_main


def test_serve_options_json_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    code = _main(["simulate", "serve", "--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb",
                  "--rate", "5", "--num-requests", "100", "--input-tokens", "200-800",
                  "--output-tokens", "64", "--replicas", "2", "--ttft-slo", "1s",
                  "--out", str(out), "--json", "--outputs", "summary,csv,report"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests_by_status"] == {"finished": 100, "dropped": 0, "in_flight": 0}
    assert summary["slo"]["ttft_s"] == 1.0
    rows = list(csv.DictReader((out / "requests.csv").open()))
    assert len(rows) == 100 and all(r["output_tokens"] == "64" for r in rows)
    assert (out / "report.html").read_text().count("fig-serving-") >= 6


def test_bundled_serving_scenario_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["simulate", "serve-default", "--out", str(tmp_path / "o"), "--json",
                  "--set", "serving.workload.0.num_requests=200"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["num_requests"] == 200 and summary["scenario"] == "serve-default"


def test_training_scenarios_still_run_through_the_group(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert _main(["simulate", "--out", str(tmp_path / "o"), "--json"]) == 0
    assert "jobs_by_status" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("argv", "needle"), [
    (["--model", "llama3.1-8bx", "--gpu", "h100-sxm-80gb", "--rate", "1"], "did you mean"),
    (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb"], "--rate"),
    (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--rate", "1", "--input-tokens",
      "abc"], "--input-tokens"),
    (["--model", "llama3.1-70b", "--gpu", "h100-sxm-80gb", "--rate", "1"], "KV cache"),
    # fields checked by the scenario schema are reported under the option that set them
    (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--rate", "1", "--input-tokens",
      "0"], "error: --input-tokens: Input should be greater than 0"),
    (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--rate", "-2"],
     "error: --rate: Input should be greater than 0"),
    (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--rate", "1", "--spec-tokens", "2",
      "--acceptance", "1.5"], "'--acceptance': expected a finite number in [0, 1]"),
    (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--rate", "1", "--disaggregate",
      "0:1"], "error: --disaggregate:"),
    (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--rate", "1",
      "--gpu-memory-utilization", "2"], "error: --gpu-memory-utilization:"),
])
def test_bad_options_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], needle: str) -> None:
    assert _main(["simulate", "serve", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err


@pytest.mark.parametrize(("extra", "needle"), [
    (["--rate", "5", "--num-requests", "50"], "error: --rate: give --trace (replay its "
     "arrivals) or --rate (synthetic arrivals), not both"),
    # an explicit value is refused even when it equals the default
    (["--num-requests", "1000"], "error: --num-requests: applies to synthetic requests "
     "(--rate, --concurrency); a replayed --trace sends its own rows (--max-requests"),
    (["--arrival", "gamma"], "error: --arrival: applies to synthetic requests"),
    (["--cv", "2"], "error: --cv: applies to synthetic requests"),
    (["--input-tokens", "100"], "error: --input-tokens: applies to synthetic requests"),
    (["--output-tokens", "10"], "error: --output-tokens: applies to synthetic requests"),
])
def test_a_trace_refuses_the_synthetic_options(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               extra: list[str], needle: str) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "2023-11-16 18:15:46,374,44\n2023-11-16 18:15:47,100,10\n")
    argv = ["simulate", "serve", "--trace", str(trace), "--outputs", "none", "--quiet"]
    assert _main([*argv, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(needle) and "\n" not in err
    assert _main(argv) == 0  # the defaults of those options pass


def test_serve_help_says_the_load_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["simulate", "serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert ("The load is required, one of: --trace FILE (replay a trace), --rate QPS "
            "(synthetic open-loop arrivals) or --concurrency N (closed-loop clients)") in text
    assert "Synthetic requests to send (with --rate or --concurrency; not with --trace)" in text


def test_bad_scenario_file_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("serving:\n  services:\n    - model: llama3.1-8b\n      gpu: h100-sxm-80gb\n"
                    "      replicas: 0\n  workload:\n    - kind: synthetic\n"
                    "      num_requests: 5\n      arrival: {rate: 1}\n")
    assert _main(["simulate", str(path), "--out", str(tmp_path / "o")]) == 2
    assert f"{path}:5" in capsys.readouterr().err


def test_repeated_prompts_hit_the_prefix_cache(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    def hit(repeat: str) -> float:
        assert _main(["simulate", "serve", "--model", "llama3-8b", "--gpu", "l40s",
                      "--weights", "fp8", "--rate", "1e9", "--arrival", "fixed",
                      "--num-requests", "200", "--input-tokens", "256-512",
                      "--output-tokens", "10", "--repeat", repeat, "--json", "--quiet",
                      "--outputs", "summary", "--out", str(tmp_path / repeat)]) == 0
        return float(json.loads(capsys.readouterr().out)["prefix_cache_hit_frac"])
    assert hit("1") == 0.0
    assert 0.35 < hit("2") < 0.5  # at most half the prompt tokens are copies


BURST = ("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
         "0.5,ChatGPT,300,40,340,Conversation log\n1.5,GPT-4,500,60,560,Conversation log\n"
         "2.5,ChatGPT,200,0,200,Conversation log\n3.5,ChatGPT,100,20,120,API log\n"
         "4.5,ChatGPT,250,30,280,Conversation log\n")


def test_burstgpt_replay_filters_by_model_and_log_type(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    trace = tmp_path / "b.csv"
    trace.write_text(BURST, encoding="utf-8")
    base = ["simulate", "serve", "--model", "llama3.1-8b", "--gpu", "l4", "--trace", str(trace),
            "--trace-format", "burstgpt", "--out", str(tmp_path / "o"), "--json"]
    assert _main([*base, "--trace-model", "ChatGPT", "--trace-log-type",
                  "Conversation log"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["num_requests"] == 2  # rows 1 and 5: ChatGPT conversations that got an answer
    assert s["trace_rows_skipped"] == {"another model (the model filter)": 1,
                                       "another log type (the log type filter)": 1,
                                       "0 request or response tokens (a failed request)": 1}


@pytest.mark.parametrize(("extra", "needle"), [
    (["--trace-format", "azure"],
     "error: --trace-model: filters the rows of a BurstGPT trace; this trace is azure"),
    (["--rate", "1"], "error: --trace-model: filters the rows of a replayed BurstGPT trace"),
])
def test_burstgpt_filters_need_a_burstgpt_replay(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 extra: list[str], needle: str) -> None:
    trace = tmp_path / "b.csv"
    trace.write_text(BURST, encoding="utf-8")
    args = ["simulate", "serve", "--model", "llama3.1-8b", "--gpu", "l4",
            "--trace-model", "ChatGPT", *extra, "--out", str(tmp_path / "o")]
    if "--rate" not in extra:
        args += ["--trace", str(trace)]
    assert _main(args) == 2
    assert needle in capsys.readouterr().err


def test_a_scenario_filters_only_a_burstgpt_trace(tmp_path: Path) -> None:
    from gputwin.errors import InputError
    from gputwin.scenario.serving import load_serving_scenario

    (tmp_path / "t.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nserving:\n  services: [{name: a, model: llama3.1-8b, gpu: l4}]\n"
                    "  workload:\n    - {kind: trace, service: a, format: azure, path: t.csv,\n"
                    "       model_filter: ChatGPT}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"s\.yaml:\d+: .*model_filter: filters the rows of a "
                                         r"BurstGPT trace; this trace is azure"):
        load_serving_scenario(path)


def test_the_text_summary_gives_the_drop_reasons(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table line per row
    assert _main(["simulate", "serve", "--rate", "5", "--num-requests", "20",
                  "--input-tokens", "200000", "--outputs", "none"]) == 0
    rows = [" ".join(line.strip("│ ").split()) for line in capsys.readouterr().out.splitlines()]
    assert "requests │ 20: 0 finished, 20 dropped, 0 in flight" in rows
    assert ("dropped │ 20 prompt longer than the context limit (max_model_len 131072 "
            "tokens)") in rows


def test_a_shared_fleet_summary_line_gives_the_drop_reasons() -> None:
    from gputwin.cli.simulate_cmd import _shared_fleet_lines

    reasons = [{"too long": 2, "no KV": 5}, {"too long": 1}]
    s = {"serving": {"num_requests": 20, "services": {
            f"s{i}": {"dropped_by_reason": r} for i, r in enumerate(reasons)},
            "requests_by_status": {"finished": 12, "dropped": 8, "in_flight": 0}},
         "fleet": {"slo_attainment_frac": None, "ttft_p99_s": None, "tpot_p99_s": None,
                   "serving_gpu_hours": 1.0, "training_gpu_hours": 2.0,
                   "replicas_started": 1, "training_preemptions_by_serving": 0,
                   "training_lost_gpu_hours": 0.0}}
    assert "serving dropped: 5 no KV; 3 too long" in _shared_fleet_lines(s)
