"""``gputwin estimate train --failures`` (issue 11's check)."""

from __future__ import annotations

import json

import pytest
from tests.cli_run import run_cli

LLAMA3 = ["estimate", "train", "--model", "llama3.1-405b", "--gpu", "h100-sxm-80gb",
          "--num-gpus", "16384", "--tp", "8", "--pp", "16", "--sequence-parallel",
          "--global-batch-size", "2048", "--seq-len", "8192"]




def test_llama3_interruptions_and_ettr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*LLAMA3, "--failures", "--duration", "54d", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert abs(data["interruptions"] - 419) / 419 <= 0.25
    assert 0.85 <= data["ettr"] <= 0.97
    g = data["failures"]
    assert g["checkpoint_interval_s"] == g["young_daly_interval_s"]
    assert 0.5 <= g["simulated_optimum_interval_s"] / g["young_daly_interval_s"] <= 2.0


def test_given_interval_is_used_and_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*LLAMA3, "--failures", "--duration", "54d",
                         "--checkpoint-interval", "2h", "--json"], capsys)
    data = json.loads(out)
    assert data["failures"]["checkpoint_interval_s"] == 7200.0
    assert data["ettr"] < 0.85  # two hours is far above the optimum at a 3 h MTBF
    code, out, _ = run_cli([*LLAMA3, "--failures", "--tokens", "1T"], capsys)
    assert code == 0
    assert "ETTR" in out


def test_failures_needs_a_window(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*LLAMA3, "--failures"], capsys)
    assert code == 2
    assert "--duration" in out + err
    code, _, _ = run_cli([*LLAMA3, "--duration", "3d"], capsys)
    assert code == 2


@pytest.mark.parametrize("flags", [["--fault-rate-scale", "5"], ["--async-checkpoint"],
                                   ["--duration", "3d"]])
def test_failure_flags_without_failures_are_refused(flags: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """--fault-rate-scale alone used to be ignored without a word."""
    code, out, err = run_cli([*LLAMA3, *flags], capsys)
    assert code == 2 and out == ""
    assert f"{flags[0]} without --failures" in err and "Traceback" not in err


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--duration", "0", "--duration: expected a wall-clock window > 0, got 0 s"),
    ("--fault-rate-scale", "inf",
     "Invalid value for '--fault-rate-scale': expected a finite number >= 0, got 'inf'"),
])
def test_a_window_or_rate_the_simulation_cannot_use_is_refused_at_its_flag(
        flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    # was: ValueError traceback from reliability/optimum.simulate_interval
    code, out, err = run_cli([*LLAMA3, "--failures", "--duration", "54d", flag, value], capsys)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_faults_faster_than_restarts_give_no_progress_and_finish(
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: a hang, the simulated optimum restarting for ever (MTBF of seconds vs a
    # restart of minutes)
    code, out, _ = run_cli([*LLAMA3, "--failures", "--duration", "1d", "--fault-rate-scale",
                         "1e6", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["ettr"] == 0.0
    assert data["failures"]["simulated_optimum_interval_s"] is None


def _strict(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_no_progress_with_an_open_window_prints_valid_json(
        capsys: pytest.CaptureFixture[str]) -> None:
    # was: "interruptions": Infinity, "checkpoint_overhead_s": NaN -- not JSON (a time to
    # train at ETTR 0 is infinite); such numbers are printed as null
    code, out, _ = run_cli([*LLAMA3, "--failures", "--tokens", "1T", "--fault-rate-scale",
                         "1e4", "--json"], capsys)
    assert code == 0
    data = json.loads(out, parse_constant=_strict)
    assert data["ettr"] == 0.0
    assert data["interruptions"] is None
    assert data["failures"]["time_to_train_with_failures_s"] is None


def test_text_of_a_job_that_never_ends_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """Faults every few ms: the text printed `window inf d`, `inf unexpected`, `lost time
    inf d` and `gpu inf, ...` (the JSON gives null)."""
    code, out, err = run_cli([*LLAMA3, "--failures", "--tokens", "1T", "--fault-rate-scale",
                              "1e9"], capsys)
    assert code == 0, err
    section = out.split("failures and goodput")[1]
    assert "never ends" in section and "ETTR" in section
    assert " inf" not in section and "nan" not in section
