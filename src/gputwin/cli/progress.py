"""Progress of a long command on stderr: a bar with percentage and ETA on a terminal, and
a plain line now and then when stderr is piped or redirected (logs stay readable).

Short runs print nothing when piped: the first plain line comes after ``interval_s``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO


def eta_s(done: float, total: float, elapsed_s: float) -> float | None:
    """Seconds left at the current pace (``None`` before any progress)."""
    if done <= 0 or total <= 0 or elapsed_s <= 0:
        return None
    return max(0.0, elapsed_s * (total - done) / done)


def plain_line(label: str, done: float, total: float | None, elapsed_s: float,
               describe: Callable[[float], str]) -> str:
    """``simulating: 42% (t = 4.2 d), 12 s elapsed, ETA 17 s`` (no % without a total)."""
    from gputwin.units import format_duration

    parts = [f"{label}:"]
    if total:
        parts.append(f"{min(1.0, done / total):.0%}")
    parts.append(f"({describe(done)}), {format_duration(elapsed_s)} elapsed")
    left = eta_s(done, total, elapsed_s) if total else None
    line = " ".join(parts)
    return line + (f", ETA {format_duration(left)}" if left is not None else "")


class ProgressReporter:
    """``with ProgressReporter(...) as update: ... update(done)``."""

    def __init__(self, label: str, total: float | None, describe: Callable[[float], str],
                 *, stream: TextIO | None = None, interval_s: float = 10.0,
                 tty: bool | None = None) -> None:
        self.label, self.total, self.describe = label, total, describe
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval_s = interval_s
        self._start = time.perf_counter()
        self._last_line = self._start
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[float], None]:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns: list[Any] = [TextColumn(f"[bold]{self.label}[/] {{task.fields[now]}}")]
            if self.total:
                columns += [BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                            TextColumn("ETA"), TimeRemainingColumn()]
            columns.append(TimeElapsedColumn())
            self._bar = Progress(*columns, console=Console(file=self.stream), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, now="")
        return self.update

    def update(self, done: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, now=self.describe(done))
            return
        now = time.perf_counter()
        if now - self._last_line >= self.interval_s:
            self._last_line = now
            self.stream.write(plain_line(self.label, done, self.total, now - self._start,
                                         self.describe) + "\n")
            self.stream.flush()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)
