"""`gputwin validate --json --markdown` names two output formats: refused (exit 2) instead of
silently printing JSON."""

from __future__ import annotations

import pytest
from tests.cli_run import run_cli


def test_json_and_markdown_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["validate", "--kind", "optics", "--json", "--markdown"], capsys)
    assert code == 2 and out == ""
    assert "--json and --markdown" in err and "Traceback" not in err


def test_markdown_alone_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["validate", "--kind", "optics", "--markdown"], capsys)
    assert (code == 0 and out.lstrip().startswith("#")) or "|" in out
