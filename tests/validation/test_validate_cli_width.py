"""`gputwin validate` prints its summary lines within 80 columns when not on a terminal."""

from __future__ import annotations

from click.testing import CliRunner

from gputwin.cli.main import cli


def test_summary_lines_fit_80_columns() -> None:
    out = CliRunner(env={"COLUMNS": "80"}).invoke(cli, ["validate"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    start = max(i for i, line in enumerate(lines) if line.strip().startswith("all:"))
    tail = lines[start:]  # the summary block: error statistics, then the known gaps
    assert any("within tolerance" in line for line in tail)
    assert all(len(line) <= 80 for line in tail), tail
