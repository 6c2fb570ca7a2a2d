"""Issue 15 item 10: progress with percentage and ETA; a plain line when piped."""

from __future__ import annotations

import io

from gputwin.cli.progress import ProgressReporter, eta_s, plain_line


def test_eta_at_the_current_pace() -> None:
    assert eta_s(25.0, 100.0, 10.0) == 30.0
    assert eta_s(0.0, 100.0, 10.0) is None


def test_plain_line_has_percentage_and_eta() -> None:
    line = plain_line("simulating", 50.0, 200.0, 4.0, lambda d: f"t = {d:.0f} s")
    assert line.startswith("simulating: 25% (t = 50 s), ") and "ETA 12 s" in line


def test_piped_output_gets_plain_lines_not_a_bar() -> None:
    stream = io.StringIO()  # not a terminal
    with ProgressReporter("simulating", 100.0, str, stream=stream, interval_s=0.0) as update:
        update(10.0)
        update(60.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("simulating: 60%")
    assert "\x1b[" not in stream.getvalue()  # no terminal control codes


def test_short_piped_run_prints_nothing() -> None:
    stream = io.StringIO()
    with ProgressReporter("simulating", 100.0, str, stream=stream) as update:
        update(50.0)
    assert stream.getvalue() == ""
