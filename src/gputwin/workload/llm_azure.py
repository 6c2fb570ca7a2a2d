"""Reader for the Azure LLM inference trace 2023 (``TIMESTAMP,ContextTokens,GeneratedTokens``).

Published with Splitwise (Patel et al., ISCA 2024), Azure/AzurePublicDataset: one row per
request, ``TIMESTAMP`` as ``YYYY-MM-DD HH:MM:SS.fffffff`` (invocation time),
``ContextTokens`` the prompt length and ``GeneratedTokens`` the output length. The trace
carries no prompt content, so requests share no prefixes. Times are made relative to the
earliest row. Malformed rows raise :class:`InputError` naming ``file:line`` and the column.
"""

from __future__ import annotations

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
    stamps: list[datetime] = []
    wheres: list[str] = []
    lengths: list[tuple[int, int]] = []
    i_ts, i_in, i_out = COLUMNS
    for where, fields, idx in csv_rows(path, COLUMNS, ",".join(COLUMNS)):
        text = fields[idx[i_ts]].strip()
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise InputError("column 'TIMESTAMP': expected 'YYYY-MM-DD HH:MM:SS[.f]', "
                             f"got {text!r}", where=where) from None
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
    first = min(stamps)
    secs = [(s - first).total_seconds() for s in stamps]
    order, times = apply_window(secs, speedup=speedup, max_requests=max_requests,
                                wheres=wheres, column="TIMESTAMP")
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=lengths[i][0],
                       num_output_tokens=lengths[i][1], service=service)
            for k, (i, t) in enumerate(zip(order, times, strict=True))]


def _read_fast(path: Path, skip_zero_output: bool, skipped: dict[str, int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(seconds from the earliest row, prompt, output) of a well-formed trace in file
    order, parsed by pyarrow, or None when anything is unusual (a bad row, a prompt of 0
    tokens, ...): the csv reader then parses it and names the offending line. Times are
    truncated to microseconds, as :meth:`datetime.fromisoformat` does."""
    cols = read_csv_columns(path, {"TIMESTAMP": "time", "ContextTokens": "int",
                                   "GeneratedTokens": "int"})
    if cols is None:
        return None
    us, prompts, outputs = (cols[c] for c in COLUMNS)
    if len(us) and (int(prompts.min()) < 1 or int(outputs.min()) < 0 or (
            not skip_zero_output and int(outputs.min()) < 1)
            or max(int(prompts.max()), int(outputs.max())) > MAX_TOKENS
            or not span_ok(us / 1e6)):
        return None
    keep = outputs > 0
    if not bool(keep.all()):
        count_skipped(skipped, ZERO_OUTPUT, int(len(keep) - keep.sum()))
        us, prompts, outputs = us[keep], prompts[keep], outputs[keep]
    if len(us) == 0:
        return us.astype(np.float64), prompts, outputs
    return (us - us.min()) / 1e6, prompts, outputs
