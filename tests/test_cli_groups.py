"""A command group named without its subcommand prints its help (the subcommands to
choose from), not an ``error: Usage: ...`` line with the help glued into it."""

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
