"""Running the CLI in-process from a test: exit status and what it printed."""

from __future__ import annotations

import pytest

from gputwin.cli.main import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``gputwin ARGS`` (0 when it returns normally)."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return int(code or 0), captured.out, captured.err
