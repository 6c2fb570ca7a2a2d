"""``gputwin compare``: exit codes, one-line errors, nothing written on error, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.run.conftest import SMALL

from gputwin.cli.main import main


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL.replace("scheduler: {policy: fifo, placement: first_fit}",
                                  "scheduler: {profile: fifo}")
                    .replace("num_jobs: 60", "num_jobs: 15"), encoding="utf-8")
    return path


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize(("sets", "needle"), [
    (["scheduler.profile=fifo,nope"], "unknown scheduler profile 'nope'"),
    (["scheduler.profile=fifo,backfill-easy", "cluster.num_nodez=4"], "num_nodez"),
    (["cluster.num_nodes=8,-1"], "cluster.num_nodes"),
    (["seed=1,2"], "--seeds"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
        scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        sets: list[str], needle: str) -> None:
    out = tmp_path / "out"
    argv = ["compare", str(scenario), "--seeds", "2", "--out", str(out), "-q"]
    for s in sets:
        argv += ["--set", s]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_json_on_stdout(scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["compare", str(scenario), "--set", "scheduler.profile=fifo,backfill-easy",
                 "--seeds", "2", "-j", "1", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [v["label"] for v in data["variants"]] == ["fifo", "backfill-easy"]
    assert data["seeds"] == [3, 4]


def test_out_writes_three_files_and_prints_table(
        scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    code = _run(["compare", str(scenario), "--set", "scheduler.profile=fifo,topology",
                 "--seeds", "2", "-j", "2", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["compare-runs.csv", "compare.html",
                                                     "compare.json", "manifest.json"]
    text = capsys.readouterr().out
    assert "fifo (baseline)" in text and "topology" in text and "JCT mean" in text
    assert "wrote" in text


def test_zero_jobs_option_is_an_input_error(scenario: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["compare", str(scenario), "-j", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.parametrize(("sets", "seeds", "needle"), [
    ([], "2001", "--seeds: 2,001 seeds, above the limit of 2,000 runs"),
    (["cluster.num_nodes=4,8"], "1001", "--seeds: 2 variants x 1,001 seeds = 2,002 runs"),
    ([f"cluster.num_nodes={','.join(map(str, range(1, 101)))}",
      f"workload.synthetic.num_jobs={','.join(map(str, range(1, 101)))}"], "1",
     "--set: 10,000 variants, above the limit of 2,000 runs"),
])
def test_too_many_runs_refused_before_any_runs(
        scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        sets: list[str], seeds: str, needle: str) -> None:
    import time

    from gputwin.limits import MAX_COMPARE_RUNS

    assert MAX_COMPARE_RUNS.value == 2_000
    argv = ["compare", str(scenario), "--seeds", seeds, "-j", "1", "-q",
            "--out", str(tmp_path / "out")]
    for s in sets:
        argv += ["--set", s]
    start = time.perf_counter()
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert time.perf_counter() - start < 10 and not (tmp_path / "out").exists()


def test_runs_at_the_limit_are_accepted(scenario: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import gputwin.run.compare_variants as cv
    from gputwin.limits import Limit

    monkeypatch.setattr(cv, "MAX_COMPARE_RUNS", Limit(4, "runs", "test"))
    assert _run(["compare", str(scenario), "--set", "cluster.num_nodes=4,8", "--seeds", "2",
                 "-j", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(len(v["runs"]) for v in data["variants"]) == 4
    assert _run(["compare", str(scenario), "--set", "cluster.num_nodes=4,8", "--seeds", "3",
                 "-j", "1", "--json"]) == 2
