"""Reader for the Azure LLM inference trace 2023 (``TIMESTAMP,ContextTokens,GeneratedTokens``).

Published with Splitwise (Patel et al., ISCA 2024), Azure/AzurePublicDataset: one row per
request, ``TIMESTAMP`` as ``YYYY-MM-DD HH:MM:SS.fffffff`` (invocation time),
``ContextTokens`` the prompt length and ``GeneratedTokens`` the output length. The trace
carries no prompt content, so requests share no prefixes. Times are made relative to the
earliest row. Malformed rows raise :class:`InputError` naming ``file:line`` and the column.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from gputwin.errors import InputError
from gputwin.workload.llm_request import LlmRequest
from gputwin.workload.llm_trace_io import apply_window, open_trace, parse_int

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def read_azure_llm_csv(
    path: Path,
    *,
    max_requests: int | None = None,
    speedup: float = 1.0,
    service: str = "default",
    skip_zero_output: bool = True,
) -> list[LlmRequest]:
    """Requests of the trace at ``path``, sorted by arrival, ids 0, 1, ...

    ``max_requests`` keeps the earliest ones; ``speedup`` divides inter-arrival times.
    Rows with 0 generated tokens are skipped when ``skip_zero_output`` (else an error).
    Raises :class:`InputError`.
    """
    stamps: list[datetime] = []
    lengths: list[tuple[int, int]] = []
    with open_trace(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputError("empty trace file (expected a header line)", where=f"{path}:1")
        names = [h.strip() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise InputError(f"header lacks column(s) {', '.join(missing)}; expected "
                             f"{','.join(COLUMNS)}", where=f"{path}:1")
        i_ts, i_in, i_out = (names.index(c) for c in COLUMNS)
        width = max(i_ts, i_in, i_out) + 1
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            where = f"{path}:{reader.line_num}"
            if len(fields) < width:
                raise InputError(f"expected {len(names)} columns, got {len(fields)}",
                                 where=where)
            text = fields[i_ts].strip()
            try:
                stamp = datetime.fromisoformat(text)
            except ValueError:
                raise InputError("column 'TIMESTAMP': expected 'YYYY-MM-DD HH:MM:SS[.f]', "
                                 f"got {text!r}", where=where) from None
            prompt = parse_int(fields[i_in].strip(), "ContextTokens", where, minimum=1)
            output = parse_int(fields[i_out].strip(), "GeneratedTokens", where, minimum=0)
            if output == 0:
                if skip_zero_output:
                    continue
                raise InputError("column 'GeneratedTokens': expected >= 1", where=where)
            stamps.append(stamp)
            lengths.append((prompt, output))
    if not stamps:
        return []
    first = min(stamps)
    secs = [(s - first).total_seconds() for s in stamps]
    order, times = apply_window(secs, speedup=speedup, max_requests=max_requests)
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=lengths[i][0],
                       num_output_tokens=lengths[i][1], service=service)
            for k, (i, t) in enumerate(zip(order, times, strict=True))]
