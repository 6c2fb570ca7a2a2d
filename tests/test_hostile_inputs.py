"""Issue 15: hostile inputs end with exit 2 and one line naming the place, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.cli.main import main

AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
PHILLY_HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    return int(info.value.code or 0), err


def _latin1_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\nseed: 1\n".encode("latin-1"))
    return path


@pytest.mark.parametrize("command", [["simulate"], ["compare", "--seeds", "1"]])
def test_non_utf8_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   command: list[str]) -> None:
    code, err = run_cli([*command, str(_latin1_scenario(tmp_path))], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "latin1.yaml:1: not a UTF-8 text file" in err


def test_non_utf8_trace_in_workload_stats_exits_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "philly.csv"
    path.write_bytes((PHILLY_HEADER + "2017-10-09 07:01:55,66.0,1,66.0,c1\n").encode()
                     + b"2017-10-09 07:02:55,6\xff,1,66.0,c1\n")
    code, err = run_cli(["workload", "stats", str(path), "--format", "philly_csv"], capsys)
    assert code == 2 and "philly.csv:3: not a UTF-8 text file (byte 0xff" in err


def test_non_utf8_trace_in_simulate_serve_exits_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "azure.csv"
    path.write_bytes(AZURE_HEADER.encode() + b"2023-11-16 18:15:46,3\xe974,44\n")
    code, err = run_cli(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
                         "--trace", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "azure.csv:2: not a UTF-8 text file" in err
    assert not (tmp_path / "o").exists()


def test_duplicate_scenario_key_exits_2(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: d\nscheduler: {policy: fifo}\nscheduler: {policy: sjf}\n")
    code, err = run_cli(["simulate", str(path)], capsys)
    assert code == 2 and "dup.yaml:3: scheduler: duplicate key (first given on line 2)" in err
