"""Reader for the Azure LLM inference trace 2023 (``TIMESTAMP,ContextTokens,GeneratedTokens``).

Published with Splitwise (Patel et al., ISCA 2024), Azure/AzurePublicDataset: one row per
request, ``TIMESTAMP`` as ``YYYY-MM-DD HH:MM:SS.fffffff`` (invocation time),
``ContextTokens`` the prompt length and ``GeneratedTokens`` the output length. The trace
carries no prompt content, so requests share no prefixes. A hand-written file may give
``TIMESTAMP`` as plain seconds instead (``0`` for every row: an offline batch), one kind
throughout. Times are made relative to the earliest row. Malformed rows raise
:class:`InputError` naming ``file:line`` and the column.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np

from gputwin.errors import InputError
from gputwin.workload.llm_request import LlmRequest
from gputwin.workload.llm_trace_io import (
    MAX_TOKENS,
    apply_window,
    count_skipped,
    csv_rows,
    parse_int,
    span_ok,
)
from gputwin.workload.trace_arrow import read_csv_columns, requests_from_columns

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
ZERO_OUTPUT = "0 generated tokens"


def read_azure_llm_csv(
    path: Path,
    *,
    max_requests: int | None = None,
    speedup: float = 1.0,
    service: str = "default",
    skip_zero_output: bool = True,
    skipped: dict[str, int] | None = None,
) -> list[LlmRequest]:
    """Requests of the trace at ``path``, sorted by arrival, ids 0, 1, ...

    ``max_requests`` keeps the earliest ones; ``speedup`` divides inter-arrival times.
    Rows with 0 generated tokens are skipped when ``skip_zero_output`` (else an error)
    and counted in ``skipped`` (reason -> rows) when given. Raises :class:`InputError`.
    """
    fast = _read_fast(path, skip_zero_output, skipped)
    if fast is not None:
        return requests_from_columns(*fast, speedup=speedup, max_requests=max_requests,
                                     service=service)
    stamps: list[datetime | float] = []
    wheres: list[str] = []
    lengths: list[tuple[int, int]] = []
    i_ts, i_in, i_out = COLUMNS
    for where, fields, idx in csv_rows(path, COLUMNS, ",".join(COLUMNS)):
        stamp = _stamp(fields[idx[i_ts]].strip(), where,
                       seconds=isinstance(stamps[0], float) if stamps else None)
        prompt = parse_int(fields[idx[i_in]].strip(), "ContextTokens", where, minimum=1)
        output = parse_int(fields[idx[i_out]].strip(), "GeneratedTokens", where, minimum=0)
        if output == 0:
            if skip_zero_output:
                count_skipped(skipped, ZERO_OUTPUT)
                continue
            raise InputError("column 'GeneratedTokens': expected >= 1", where=where)
        stamps.append(stamp)
        wheres.append(where)
        lengths.append((prompt, output))
    if not stamps:
        return []
    secs = _relative_s(stamps)
    order, times = apply_window(secs, speedup=speedup, max_requests=max_requests,
                                wheres=wheres, column="TIMESTAMP")
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=lengths[i][0],
                       num_output_tokens=lengths[i][1], service=service)
            for k, (i, t) in enumerate(zip(order, times, strict=True))]


def _stamp(text: str, where: str, *, seconds: bool | None) -> datetime | float:
    """A ``TIMESTAMP`` cell: a datetime, or a finite number of seconds; ``seconds`` is the
    kind of the rows before (None for the first row), which every row must keep."""
    try:
        value: datetime | float = float(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise InputError("column 'TIMESTAMP': expected 'YYYY-MM-DD HH:MM:SS[.f]' or "
                             f"seconds, got {text!r}", where=where) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"column 'TIMESTAMP': expected a finite number of seconds, got "
                         f"{text!r}", where=where)
    if seconds is not None and seconds != isinstance(value, float):
        kind = "seconds" if seconds else "datetimes"
        raise InputError(f"column 'TIMESTAMP': expected {kind} as in the rows above, got "
                         f"{text!r}", where=where)
    return value


def _relative_s(stamps: list[datetime | float]) -> list[float]:
    """Seconds from the earliest of ``stamps`` (all datetimes or all seconds)."""
    if isinstance(stamps[0], float):
        numbers = [float(s) for s in stamps if isinstance(s, float)]
        first_s = min(numbers)
        return [s - first_s for s in numbers]
    dates = [s for s in stamps if isinstance(s, datetime)]
    first = min(dates)
    return [(s - first).total_seconds() for s in dates]


def _read_fast(path: Path, skip_zero_output: bool, skipped: dict[str, int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(seconds from the earliest row, prompt, output) of a well-formed trace in file
    order, parsed by pyarrow, or None when anything is unusual (a bad row, a prompt of 0
    tokens, ...): the csv reader then parses it and names the offending line. Times are
    truncated to microseconds, as :meth:`datetime.fromisoformat` does."""
    lengths = {"ContextTokens": "int", "GeneratedTokens": "int"}
    cols = read_csv_columns(path, {"TIMESTAMP": "time", **lengths})
    if cols is not None:  # datetimes: int64 microseconds since the epoch
        stamps, per_s = cols["TIMESTAMP"], 1e6
    else:  # or plain seconds
        cols = read_csv_columns(path, {"TIMESTAMP": "float", **lengths})
        if cols is None or not bool(np.isfinite(cols["TIMESTAMP"]).all()):
            return None
        stamps, per_s = cols["TIMESTAMP"], 1.0
    prompts, outputs = cols["ContextTokens"], cols["GeneratedTokens"]
    if len(stamps) and (int(prompts.min()) < 1 or int(outputs.min()) < 0 or (
            not skip_zero_output and int(outputs.min()) < 1)
            or max(int(prompts.max()), int(outputs.max())) > MAX_TOKENS
            or not span_ok(stamps / per_s)):
        return None
    keep = outputs > 0
    if not bool(keep.all()):
        count_skipped(skipped, ZERO_OUTPUT, int(len(keep) - keep.sum()))
        stamps, prompts, outputs = stamps[keep], prompts[keep], outputs[keep]
    if len(stamps) == 0:
        return stamps.astype(np.float64), prompts, outputs
    return (stamps - stamps.min()) / per_s, prompts, outputs
