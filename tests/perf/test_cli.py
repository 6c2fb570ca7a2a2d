"""``gputwin estimate train``: output and exit codes for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests.cli_run import run_cli

BASE = ["estimate", "train", "--model", "gpt3-175b", "--gpu", "a100-sxm-80gb",
        "--num-gpus", "64", "--tp", "8", "--pp", "8", "--global-batch-size", "64",
        "--seq-len", "2048"]




def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*BASE, "--tokens", "300e9", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["num_steps"] == pytest.approx(300e9 / (64 * 2048))
    assert 0 < data["mfu"] < 1


def test_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*BASE, "--tokens", "1.2T"], capsys)
    assert code == 0
    for word in ("step time", "MFU", "tokens/s", "TFLOP/s", "memory per GPU", "bubble"):
        assert word in out


@pytest.mark.parametrize(("extra", "needle"), [
    (["--tp", "5"], "--tp: 5 does not divide the 96 attention heads"),
    (["--global-batch-size", "63", "--pp", "4"], "--global-batch-size: 63 must be a multiple"),
    (["--ep", "2"], "mixture-of-experts"),
    (["--interleave", "7", "--pp", "1"], "--interleave: needs pp > 1"),
    (["--dtype", "fp8"], "--dtype: fp8 is not supported by a100-sxm-80gb"),
    (["--num-gpus", "8", "--pp", "1"], "needs"),
    (["--model", "gpt3-175"], "unknown model"),
])
def test_bad_input_exits_2_with_one_line(extra: list[str], needle: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*BASE, *extra], capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and err.count("\n") <= 2


def test_click_level_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*BASE, "--tp", "0"], capsys)
    assert code == 2 and "positive" in err
    code, _, _ = run_cli([*BASE, "--recompute", "sometimes"], capsys)
    assert code == 2


def test_console_script_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "gputwin.cli.main", *BASE, "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dp"] == 1


def test_no_memory_check_estimates_a_layout_that_does_not_fit(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Refused by default (exit 2, the shortfall named); with --no-memory-check the estimate
    runs and reports the overflow as a negative margin and in the text."""
    big = ["estimate", "train", "--model", "llama3.1-405b", "--gpu", "h100-sxm-80gb",
           "--num-gpus", "64", "--tp", "8", "--global-batch-size", "64", "--recompute", "none"]
    code, _, err = run_cli(big, capsys)
    assert code == 2 and "more than the 79.2 GiB usable" in err
    code, out, _ = run_cli([*big, "--no-memory-check", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["memory_margin_bytes"] < 0 and d["step_time_s"] > 0
    code, out, _ = run_cli([*big, "--no-memory-check"], capsys)
    assert code == 0 and "does not" in out and "over by" in out
