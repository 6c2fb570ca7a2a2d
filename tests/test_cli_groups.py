"""Newcomer paths through the command line: a group named without its subcommand prints
its help (the subcommands to choose from), not an ``error: Usage: ...`` line with the help
glued into it; an empty scenario name is reported as such."""

from __future__ import annotations

import pytest
from tests.cli_run import run_cli


@pytest.mark.parametrize("group", ["catalog", "estimate", "plan", "workload", "scenario",
                                   "economics"])
def test_group_without_subcommand_prints_its_help(group: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([group], capsys)
    assert code == 2
    assert err.startswith(f"Usage: gputwin {group} ")
    assert "Commands:" in err
    assert "error:" not in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["simulate", "scenario"], ["compare"]])
def test_an_empty_scenario_name_is_named_as_such(command: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`simulate scenario ""` used to answer `.: expected a file, got a folder`."""
    code, out, err = run_cli([*command, "", "-q"], capsys)
    assert code == 2 and out == ""
    assert "SCENARIO: expected a scenario file or a bundled name" in err


def test_python_dash_m_runs_the_same_command_line() -> None:
    """``python -m gputwin`` is the console script for users without it on PATH: the same
    help, and bad input exits 2 with one line, as the script does."""
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "gputwin", "estimate", "--help"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "Usage: gputwin estimate" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "gputwin", "estimate", "energy", "--gpu",
                          "no-such-gpu"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "no-such-gpu" in bad.stderr
