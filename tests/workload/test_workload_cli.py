"""``gputwin workload stats|fit`` on a small SWF file: output, JSON and error exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli_run import run_cli

SWF = "; MaxNodes: 2\n; MaxProcs: 16\n" + "".join(
    f"{i} {i * 60} 0 {600 * i} 8 -1 -1 {1 if i % 2 else 8} -1 -1 1 1 1 -1 1 -1 -1 -1\n"
    for i in range(1, 9))


def test_stats_and_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.swf"
    path.write_text(SWF, encoding="utf-8")
    code, out, _ = run_cli(["workload", "stats", str(path), "--format", "swf"], capsys)
    assert code == 0 and "8 over" in out and "1: 50.0%, 8: 50.0%" in out
    assert "nodes        2 with 16 GPUs" in out
    code, out, _ = run_cli(["workload", "fit", str(path), "--format", "swf", "--json",
                        "--set", "max_jobs=6"], capsys)
    data = json.loads(out)
    assert code == 0 and data["trace"]["num_jobs"] == 6
    assert data["fit"]["num_gpus"] == {"1": 0.5, "8": 0.5}


def test_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["workload", "stats", str(tmp_path / "no.swf"), "--format", "swf"],
                       capsys)
    assert code == 2 and err.startswith("error:") and "not found" in err
    code, _, err = run_cli(["workload", "fit", "x", "--format", "sfw"], capsys)
    assert code == 2 and "did you mean 'swf'" in err


def test_unknown_format_lists_every_format_stats_reads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.swf"
    path.write_text(SWF, encoding="utf-8")
    code, _, err = run_cli(["workload", "stats", str(path), "--format", "nosuch"], capsys)
    assert code == 2 and "--format: unknown trace format 'nosuch'" in err
    listed = err.split("known: ")[1].strip()
    assert listed == ("azure, burstgpt, helios, mooncake, openb, pai2020, philly_csv, "
                      "philly_json, swf"), listed
