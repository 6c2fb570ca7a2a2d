"""Shared helpers of the LLM trace readers: open a file, parse numbers with ``file:line``."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from gputwin.errors import InputError
from gputwin.limits import MAX_TOKENS as TOKEN_LIMIT
from gputwin.textio import check_row_width, open_text

if TYPE_CHECKING:
    import numpy as np


def open_trace(path: Path) -> IO[str]:
    """Open ``path`` for reading text; missing/unreadable files raise :class:`InputError`.
    (:func:`gputwin.textio.open_text` directly: the cluster trace helpers would import the
    job and training models, which an LLM trace does not need.)"""
    return open_text(path, "trace file")


def csv_rows(path: Path, columns: Sequence[str], expected_header: str
             ) -> Iterator[tuple[str, list[str], dict[str, int]]]:
    """Data rows of a CSV trace with a header naming at least ``columns``.

    Yields ``(where, fields, index)``: ``where`` is ``file:line`` for error messages,
    ``index`` maps each of ``columns`` to its position. Blank lines are skipped; a missing
    header column, a short row or one wider than the header raises :class:`InputError`
    (``expected_header`` is quoted in the message).
    """
    with open_trace(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputError("empty trace file (expected a header line)", where=f"{path}:1")
        names = [h.strip() for h in header]
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(f"header lacks column(s) {', '.join(missing)}; expected "
                             f"{expected_header}", where=f"{path}:1")
        index = {c: names.index(c) for c in columns}
        width = max(index.values()) + 1
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            where = f"{path}:{reader.line_num}"
            if len(fields) < width:
                raise InputError(f"expected {len(names)} columns, got {len(fields)}",
                                 where=where)
            check_row_width(fields, len(names), where)
            yield where, fields, index


#: Largest token count a trace row may give (:data:`gputwin.limits.MAX_TOKENS`; a longer
#: prompt than the model's context is dropped by the engine as too long).
MAX_TOKENS = TOKEN_LIMIT.value


def parse_int(text: object, column: str, where: str, *, minimum: int = 0,
              maximum: int = MAX_TOKENS) -> int:
    """An integer in [``minimum``, ``maximum``] (``"12"``, ``12``, ``"12.0"``) or an
    :class:`InputError`."""
    value: float
    try:
        value = float(text) if not isinstance(text, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value.is_integer() and value >= minimum):
        raise InputError(f"column {column!r}: expected an integer >= {minimum}, got {text!r}",
                         where=where)
    if value > maximum:
        raise InputError(f"column {column!r}: expected an integer <= {maximum:,}, got "
                         f"{text!r}", where=where)
    return int(value)


def parse_float(text: object, column: str, where: str, *, minimum: float = 0.0) -> float:
    """A finite number >= ``minimum`` or an :class:`InputError`."""
    try:
        value = float(text) if not isinstance(text, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= minimum):
        raise InputError(f"column {column!r}: expected a number >= {minimum:g}, got {text!r}",
                         where=where)
    return value


#: Longest time a trace may span, from its earliest row to its latest: 1e9 s (31.7
#: years), far beyond any recorded trace (days to months). A time further out is a typo or
#: a unit mix-up, and one would hold the simulation's clock, and the minute bins of
#: ``workload stats``, to a span no run needs.
MAX_TRACE_SPAN_S = 1e9


def span_ok(times_s: np.ndarray) -> bool:
    """Whether the times (seconds) keep within :data:`MAX_TRACE_SPAN_S` (the fast readers
    hand a trace that does not to the row-by-row reader, which names the row)."""
    return len(times_s) == 0 or float(times_s.max() - times_s.min()) <= MAX_TRACE_SPAN_S


def check_span(times_s: Sequence[float], wheres: Sequence[str], column: str) -> None:
    """Raise :class:`InputError` naming (``file:line``, ``column``) the first row, in file
    order, more than :data:`MAX_TRACE_SPAN_S` after the earliest row."""
    if not times_s:
        return
    first = min(range(len(times_s)), key=times_s.__getitem__)
    limit = times_s[first] + MAX_TRACE_SPAN_S
    for i, t in enumerate(times_s):
        if t > limit:
            raise InputError(
                f"column {column!r}: {t - times_s[first]:.4g} s after the trace's earliest "
                f"request ({wheres[first]}); a trace may span at most "
                f"{MAX_TRACE_SPAN_S:.0e} s (31.7 years)", where=wheres[i])


def apply_window(times_s: list[float], *, speedup: float, max_requests: int | None,
                 wheres: Sequence[str], column: str) -> tuple[list[int], list[float]]:
    """Indices kept (sorted by time, stable) and their times relative to the first, divided
    by ``speedup`` (> 0; 2 = replay twice as fast). ``wheres`` (each row's ``file:line``)
    and ``column`` name a row beyond the trace's longest span (:func:`check_span`)."""
    check_span(times_s, wheres, column)
    if speedup <= 0 or not math.isfinite(speedup):
        raise InputError(f"speedup must be a positive number, got {speedup!r}")
    order = sorted(range(len(times_s)), key=lambda i: times_s[i])
    if max_requests is not None:
        order = order[:max_requests]
    if not order:
        return [], []
    origin = times_s[order[0]]
    return order, [(times_s[i] - origin) / speedup for i in order]


def count_skipped(skipped: dict[str, int] | None, reason: str, rows: int = 1) -> None:
    """Add ``rows`` rows skipped for ``reason`` to ``skipped`` (a reader's tally that a
    run reports, so that no row of a trace is left out silently); ``None``: not counted."""
    if skipped is not None and rows:
        skipped[reason] = skipped.get(reason, 0) + rows
