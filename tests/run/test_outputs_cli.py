"""Outputs are written atomically; the CLI runs the bundled scenario end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from tests.run.conftest import with_template_gpus
from tests.serving.serving_builders import run_main

from gputwin.run.outputs import write_outputs
from gputwin.run.results import JOB_STATUSES, SimulationResult
from gputwin.run.simulate import simulate
from gputwin.scenario import Scenario, load_scenario


def fake_html(result: SimulationResult) -> str:
    return f"<html>{result.scenario_name}</html>"


def test_writes_three_files(tmp_path: Path, small: Scenario) -> None:
    result = simulate(small)
    out = tmp_path / "out"
    paths = write_outputs(result, out, fake_html)
    assert sorted(p.name for p in paths.values()) == ["jobs.csv", "jobs.parquet", "report.html",
                                                      "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_jobs"] == 60
    rows = list(csv.DictReader((out / "jobs.csv").open()))
    assert len(rows) == 60 and {r["status"] for r in rows} <= set(JOB_STATUSES)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no temp folder left


def test_every_status_lands_in_jobs_csv(tmp_path: Path, small_path: Path) -> None:
    sc = with_template_gpus(load_scenario(
        small_path, ["horizon=8h", "workload.synthetic.arrival.mean_interarrival=5min"]), 1, 128)
    result = simulate(sc)
    write_outputs(result, tmp_path / "o", fake_html)
    rows = list(csv.DictReader((tmp_path / "o" / "jobs.csv").open()))
    assert {r["status"] for r in rows} == set(JOB_STATUSES)
    queued = [r for r in rows if r["status"] == "queued"]
    assert all(r["start_time_s"] == "" and r["reason"] for r in queued)


def test_failure_while_rendering_leaves_previous_outputs(tmp_path: Path, small: Scenario) -> None:
    result = simulate(small)
    out = tmp_path / "out"
    write_outputs(result, out, fake_html)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(_: SimulationResult) -> str:
        raise RuntimeError("renderer bug")

    with pytest.raises(RuntimeError):
        write_outputs(result, out, broken)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_out_path_that_is_a_file(tmp_path: Path, small: Scenario) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    from gputwin.errors import InputError
    with pytest.raises(InputError, match="not a folder"):
        write_outputs(simulate(small), target, fake_html)


def test_real_report_renderer_is_used() -> None:
    """Fails loudly while gputwin.report.html is missing (the CLI would write a placeholder)."""
    from gputwin.cli.simulate_cmd import render_html

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = render_html(simulate(load_scenario(None, ["workload.synthetic.num_jobs=5"])))
    assert "TODO: report renderer missing" not in text
    assert text.lstrip().lower().startswith("<!doctype html")


_main = run_main


def test_cli_json_and_overrides(tmp_path: Path, small_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    code = _main(["simulate", str(small_path), "--out", str(tmp_path / "o"), "--json",
                  "--seed", "11", "--set", "cluster.num_nodes=16"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seed"] == 11 and summary["total_gpus"] == 128


WORKLOAD = ("workload:\n  synthetic:\n    num_jobs: 3\n    arrival: {mean_interarrival: 1h}\n"
            "    templates:\n      - {model: llama3-8b, num_gpus: 8, global_batch_size: 8, "
            "tokens: 1e8}\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cluster:\n  system: dgx-h100\n  num_nodes: -4\n", "s.yaml:3: cluster.num_nodes: "
         "Input should be greater than 0 (got -4)"),
        ("cluster:\n  num_nodes: 2\n  sytem: dgx-h100\n" + WORKLOAD,
         "s.yaml:3: cluster.sytem: unknown field"),
        ("cluster:\n  gpu: h100-sxm-80gbb\n  num_nodes: 2\n" + WORKLOAD,
         "s.yaml:2: cluster.gpu: unknown GPU 'h100-sxm-80gbb'; did you mean 'h100-sxm-80gb'"),
        ("cluster:\n  system: dgx-h100\n  num_nodes: 2\n" + WORKLOAD.replace("llama3-8b", "lama"),
         "s.yaml:9: workload.synthetic.templates[0].model: unknown model 'lama'"),
    ],
)
def test_cli_scenario_errors_exit_2(tmp_path: Path, text: str, expected: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert _main(["simulate", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "o").exists()


def test_cli_bundled_default_end_to_end(tmp_path: Path) -> None:
    """`gputwin simulate` with no scenario, as a user runs it (fresh process)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gputwin.cli.main", "simulate", "--out", "run1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run1"
    assert sorted(p.name for p in out.iterdir()) == ["jobs.csv", "jobs.parquet", "manifest.json",
                                                     "report.html", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "default"
    assert sum(summary["jobs_by_status"].values()) == summary["num_jobs"]
    assert "JCT" in proc.stdout and "wrote" in proc.stdout
    assert summary["wait_s"]["mean"] > 0  # the default scenario shows queueing


def test_without_renderer_only_data_files(tmp_path: Path, small: Scenario) -> None:
    paths = write_outputs(simulate(small), tmp_path / "o")
    assert sorted(paths) == ["jobs.csv", "jobs.parquet", "summary.json"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "jobs.csv", "jobs.parquet", "manifest.json", "summary.json"]


def test_each_run_without_out_gets_its_own_folder(tmp_path: Path, small_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 item 5: no shared gputwin-out/ where one command overwrites another's files."""
    monkeypatch.chdir(tmp_path)
    assert _main(["simulate", str(small_path), "--quiet"]) == 0
    assert _main(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
                  "--rate", "5", "--num-requests", "20", "--quiet"]) == 0
    runs = sorted((tmp_path / "gputwin-out").iterdir())
    assert [r.name.rsplit("-", 2)[0] for r in runs] == ["simulate", "simulate-serve"]
    assert sorted(p.name for p in runs[0].iterdir()) == [
        "jobs.csv", "jobs.parquet", "manifest.json", "report.html", "summary.json"]
    assert sorted(p.name for p in runs[1].iterdir()) == [
        "manifest.json", "report.html", "requests.parquet", "summary.json"]


def test_out_replaces_an_earlier_run_as_a_whole(tmp_path: Path, small_path: Path) -> None:
    out = tmp_path / "o"
    assert _main(["simulate", str(small_path), "--out", str(out), "--quiet"]) == 0
    assert _main(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
                  "--rate", "5", "--num-requests", "20", "--out", str(out), "--quiet"]) == 0
    assert not (out / "jobs.csv").exists()  # no stale file of the cluster run
    assert json.loads((out / "manifest.json").read_text())["command"] == "simulate serve"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.")]


def test_out_refuses_a_folder_with_other_files(tmp_path: Path, small_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("keep me")
    assert _main(["simulate", str(small_path), "--out", str(tmp_path), "--quiet"]) == 2
    assert "not written by a gputwin run" in capsys.readouterr().err
    assert mine.read_text() == "keep me" and not (tmp_path / "summary.json").exists()


def test_no_timing_gives_byte_identical_files(tmp_path: Path, small_path: Path) -> None:
    for name in ("a", "b"):
        assert _main(["simulate", str(small_path), "--no-timing", "--quiet",
                      "--out", str(tmp_path / name)]) == 0
    for file in ("summary.json", "jobs.csv", "report.html"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    assert "wall" not in (tmp_path / "a" / "summary.json").read_text()
    serve = ["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--rate",
             "5", "--num-requests", "30", "--no-timing", "--quiet", "--out"]
    assert _main([*serve, str(tmp_path / "c")]) == 0 and _main([*serve, str(tmp_path / "d")]) == 0
    for file in ("summary.json", "requests.parquet", "report.html"):
        assert (tmp_path / "c" / file).read_bytes() == (tmp_path / "d" / file).read_bytes()


def test_compare_no_timing_gives_byte_identical_files(tmp_path: Path, small_path: Path) -> None:
    for name in ("a", "b"):
        assert _main(["compare", str(small_path), "--seeds", "2", "-j", "1", "--quiet",
                      "--no-timing", "--out", str(tmp_path / name)]) == 0
    for file in ("compare.json", "compare-runs.csv", "compare.html"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
