"""`gputwin validate` prints its summary lines within 80 columns when not on a terminal."""

from __future__ import annotations

from click.testing import CliRunner

from gputwin.cli.main import cli


def test_summary_lines_fit_80_columns() -> None:
    out = CliRunner(env={"COLUMNS": "80"}).invoke(cli, ["validate"])
    assert out.exit_code == 0, out.output
    tail = out.output.splitlines()[-6:]
    assert any("within tolerance" in line for line in tail)
    assert all(len(line) <= 80 for line in tail), tail
