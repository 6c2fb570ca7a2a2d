"""Shared pieces of the trace readers: the result type, record → :class:`JobSpec`, CSV helpers.

Every reader streams its file row by row into :class:`TraceRecord` objects (times in the
trace's own clock, seconds), then :func:`build_workload` applies the common selection
(status filter, GPU-count bounds, time window, ``max_jobs``), sorts by submit time, makes
times relative to the first kept job and creates fixed-duration :class:`JobSpec` objects.
Malformed input raises :class:`InputError` naming ``file:line`` and the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from gputwin import textio
from gputwin.errors import InputError
from gputwin.limits import MAX_GPUS
from gputwin.perf.training import ParallelConfig
from gputwin.workload.job import JobSpec

SECONDS_PER_DAY = 86_400.0
_EPOCH = datetime(1970, 1, 1)
MIB = 2.0**20
GIB = 2.0**30
_NO_PARALLELISM = ParallelConfig()  # shared (frozen): trace jobs do not use the perf model


@dataclass(frozen=True, slots=True)
class TraceNode:
    """One machine of a trace's cluster (e.g. the openb node list); ``None`` = unknown."""

    name: str
    num_gpus: int
    gpu_model: str | None
    num_cpus: float | None
    memory_bytes: float | None


@dataclass(slots=True)
class TraceRecord:
    """One job as read from a trace; ``submit_s`` is in the trace's clock (seconds)."""

    line: int
    submit_s: float
    duration_s: float
    num_gpus: int
    tenant: str
    gpu_milli: int = 1000
    queue: str = ""
    status: str | None = None
    wait_s: float | None = None
    user: str | None = None
    gpu_type: str | None = None
    num_cpus: float | None = None
    memory_bytes: float | None = None
    qos: str | None = None
    priority: int = 0
    runtime_limit_s: float | None = None


@dataclass(slots=True)
class TraceWorkload:
    """What a trace reader returns.

    ``jobs`` are sorted by submit time, the first at 0 s. ``nodes`` is the trace's machine
    list when the format has one (else empty). ``origin_s_of_day`` is the local time of day
    (seconds after midnight) of simulated time 0 when the trace's clock is known (used to fit
    diurnal arrival profiles), else ``None``. ``skipped`` counts rows not turned into jobs,
    by reason (e.g. ``"no GPU"``, ``"status"``).
    """

    format: str
    path: str
    jobs: list[JobSpec]
    nodes: list[TraceNode] = field(default_factory=list)
    origin_s_of_day: float | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def num_node_gpus(self) -> int:
        """Total GPUs in :attr:`nodes`."""
        return sum(n.num_gpus for n in self.nodes)


@dataclass(frozen=True, slots=True)
class Selection:
    """Options every reader accepts (after format-specific filters).

    ``statuses``: keep only these trace statuses (case-insensitive); ``start_s``/``end_s``:
    keep jobs submitted in ``[start_s, end_s)`` seconds after the first job of the trace;
    ``min_gpus``/``max_gpus`` bound the GPU count; ``max_jobs`` keeps the earliest N.
    """

    model: str = "unknown"
    kind: str = "trace"
    id_prefix: str = "trace"
    statuses: tuple[str, ...] | None = None
    start_s: float | None = None
    end_s: float | None = None
    min_gpus: int | None = None
    max_gpus: int | None = None
    max_jobs: int | None = None


def build_workload(
    fmt: str,
    path: Path,
    records: list[TraceRecord],
    sel: Selection,
    *,
    skipped: dict[str, int] | None = None,
    nodes: Sequence[TraceNode] = (),
    clock_s_of_day_offset: float | None = None,
) -> TraceWorkload:
    """Filter, sort and convert ``records``; see :class:`Selection`.

    ``clock_s_of_day_offset``: add to a trace-clock time to get local seconds since a
    midnight (``None`` when the trace's time of day is unknown).
    """
    skipped = dict(skipped or {})
    _check_gang_sizes(records, path)
    kept = _select(records, sel, skipped)
    origin = kept[0].submit_s if kept else 0.0
    s_of_day = (
        None if clock_s_of_day_offset is None
        else (origin + clock_s_of_day_offset) % SECONDS_PER_DAY
    )
    return TraceWorkload(fmt, str(path), _jobs(kept, sel, origin), list(nodes), s_of_day,
                         {k: v for k, v in skipped.items() if v})


def _check_gang_sizes(records: Sequence[TraceRecord], path: Path) -> None:
    """A gang no cluster can hold is a typo, not a job to count: :class:`InputError`."""
    for r in records:
        if r.num_gpus > MAX_GPUS.value:
            raise InputError(f"GPU count: {MAX_GPUS.message(r.num_gpus)}",
                             where=f"{path}:{r.line}")


def _select(records: list[TraceRecord], sel: Selection,
            skipped: dict[str, int]) -> list[TraceRecord]:
    """The records ``sel`` keeps, by (submit time, line); counts the others in
    ``skipped`` by reason (status, GPU range, time window, job cap)."""

    def drop(reason: str, keep: list[TraceRecord]) -> list[TraceRecord]:
        if len(keep) != len(records_now):
            skipped[reason] = skipped.get(reason, 0) + len(records_now) - len(keep)
        return keep

    records_now = records
    if sel.statuses is not None:
        wanted = {s.lower() for s in sel.statuses}
        records_now = drop("status", [r for r in records_now
                                      if (r.status or "").lower() in wanted])
    if sel.min_gpus is not None:
        records_now = drop("min_gpus", [r for r in records_now if r.num_gpus >= sel.min_gpus])
    if sel.max_gpus is not None:
        records_now = drop("max_gpus", [r for r in records_now if r.num_gpus <= sel.max_gpus])
    records_now = sorted(records_now, key=lambda r: (r.submit_s, r.line))
    if records_now and (sel.start_s is not None or sel.end_s is not None):
        first = records_now[0].submit_s
        lo = first + (sel.start_s or 0.0)
        hi = first + sel.end_s if sel.end_s is not None else math.inf
        records_now = drop("time window", [r for r in records_now if lo <= r.submit_s < hi])
    if sel.max_jobs is not None and len(records_now) > sel.max_jobs:
        skipped["max_jobs"] = skipped.get("max_jobs", 0) + len(records_now) - sel.max_jobs
        records_now = records_now[: sel.max_jobs]
    return records_now


def _jobs(records: Sequence[TraceRecord], sel: Selection, origin_s: float) -> list[JobSpec]:
    """One job per record, numbered in order, submitted ``origin_s`` earlier than in the
    trace (the first kept record at 0)."""
    width = max(5, len(str(len(records))))
    return [
        JobSpec(
            job_id=f"{sel.id_prefix}-{i + 1:0{width}d}",
            kind=sel.kind,
            tenant=r.tenant,
            model=sel.model,
            num_gpus=r.num_gpus,
            submit_time_s=r.submit_s - origin_s,
            parallel=_NO_PARALLELISM,
            fixed_duration_s=r.duration_s,
            gpu_milli=r.gpu_milli,
            gpu_type=r.gpu_type,
            num_cpus=r.num_cpus,
            memory_bytes=r.memory_bytes,
            priority=r.priority,
            queue=r.queue,
            qos=r.qos or "",
            user=r.user,
            runtime_limit_s=r.runtime_limit_s,
            status_in_trace=r.status,
            wait_time_in_trace_s=r.wait_s,
        )
        for i, r in enumerate(records)
    ]


# ----------------------------------------------------------------------------- file helpers


def open_text(path: Path, what: str = "trace") -> IO[str]:
    """Open ``path`` for reading text (:func:`gputwin.textio.open_text`: a missing,
    unreadable or non-UTF-8 file is an :class:`InputError` naming it)."""
    return textio.open_text(path, f"{what} file")


class CsvRows:
    """Iterate the data rows of a CSV file with a header line.

    ``required`` columns must be in the header (else an error at ``file:1``). Yields
    ``(line_number, fields)``; blank lines are skipped, a row wider than the header is
    refused (:func:`gputwin.textio.check_row_width`). ``header`` gives the columns of a
    file without a header line (``line_offset``: lines already consumed from ``handle``).
    :meth:`get` returns a stripped field or raises an error naming ``file:line`` and the
    column.
    """

    def __init__(self, handle: IO[str], path: Path, required: Sequence[str],
                 *, header: Sequence[str] | None = None, line_offset: int = 0) -> None:
        self.path = path
        self._offset = line_offset
        self._reader = csv.reader(handle)
        if header is None:
            first = next(self._reader, None)
            if first is None:
                raise InputError("empty trace file (expected a header line)", where=f"{path}:1")
            header = [h.strip() for h in first]
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(
                f"header lacks column(s) {', '.join(missing)}; expected {','.join(required)}",
                where=f"{path}:1")
        self.header = list(header)
        self.index = {name: i for i, name in enumerate(self.header)}

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        for fields in self._reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            line = self._reader.line_num + self._offset
            textio.check_row_width(fields, len(self.header), f"{self.path}:{line}")
            yield line, fields

    def has(self, column: str) -> bool:
        """True when the header has ``column``."""
        return column in self.index

    def get(self, fields: list[str], column: str, line: int) -> str:
        i = self.index[column]
        if i >= len(fields):
            raise InputError(f"column {column!r}: missing (row has {len(fields)} fields)",
                             where=f"{self.path}:{line}")
        return fields[i].strip()


def bad(path: Path, line: int, column: str, expected: str, got: str) -> InputError:
    """The error for a malformed field."""
    return InputError(f"column {column!r}: expected {expected}, got {got!r}",
                      where=f"{path}:{line}")


def parse_float(text: str, path: Path, line: int, column: str, *,
                minimum: float | None = 0.0, expected: str = "a number >= 0") -> float:
    """A finite float (``>= minimum`` unless ``minimum`` is None)."""
    try:
        value = float(text)
    except ValueError:
        raise bad(path, line, column, expected, text) from None
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise bad(path, line, column, expected, text)
    return value


def parse_int(text: str, path: Path, line: int, column: str, *, minimum: int = 0) -> int:
    """An integer ``>= minimum``; accepts ``"8.0"``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer() and value >= minimum):
        raise bad(path, line, column, f"an integer >= {minimum}", text)
    return int(value)


def parse_datetime_s(text: str, path: Path, line: int, column: str) -> float:
    """``YYYY-MM-DD HH:MM:SS`` (no time zone) → seconds since 1970-01-01 in the same clock."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise bad(path, line, column, "'YYYY-MM-DD HH:MM:SS'", text) from None
    if when.tzinfo is not None:
        when = when.replace(tzinfo=None)
    return (when - _EPOCH).total_seconds()


def is_missing(text: str) -> bool:
    """Empty, ``None``, ``nan``, ``NA`` or ``null`` (the spellings the public traces use)."""
    return text.strip().lower() in ("", "none", "nan", "na", "null")
