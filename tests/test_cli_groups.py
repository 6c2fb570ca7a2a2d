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
