"""Reader for BurstGPT traces (``Timestamp,Model,Request tokens,Response tokens,Total
tokens,Log Type``).

HPMLL/BurstGPT (Wang et al., arXiv:2401.17644): ChatGPT and GPT-4 requests served on Azure.
``Timestamp`` is seconds from the start of the trace, ``Request tokens`` the prompt,
``Response tokens`` the output (0 marks a failed request in the files that keep
failures; those rows are skipped and counted). ``model`` and ``log_type`` filter rows (e.g.
``"ChatGPT"``, ``"Conversation log"``). Malformed rows raise :class:`InputError` naming
``file:line`` and the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gputwin.workload.llm_request import LlmRequest
from gputwin.workload.llm_trace_io import (
    MAX_TOKENS,
    apply_window,
    count_skipped,
    csv_rows,
    parse_float,
    parse_int,
    span_ok,
)
from gputwin.workload.trace_arrow import read_csv_columns, requests_from_columns

COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens", "Log Type")
FAILED = "0 request or response tokens (a failed request)"
OTHER_MODEL = "another model (the model filter)"
OTHER_LOG_TYPE = "another log type (the log type filter)"


def read_burstgpt_csv(
    path: Path,
    *,
    max_requests: int | None = None,
    speedup: float = 1.0,
    service: str = "default",
    model: str | None = None,
    log_type: str | None = None,
    skipped: dict[str, int] | None = None,
) -> list[LlmRequest]:
    """Requests of the trace at ``path`` sorted by arrival, ids 0, 1, ...

    Rows of another ``model`` or ``log_type`` and rows with 0 request or response tokens
    (failed requests) are skipped, and counted by reason in ``skipped`` when given.
    Raises :class:`InputError`.
    """
    fast = _read_fast(path, model, log_type, skipped)
    if fast is not None:
        return requests_from_columns(*fast, speedup=speedup, max_requests=max_requests,
                                     service=service)
    times: list[float] = []
    wheres: list[str] = []
    lengths: list[tuple[int, int]] = []
    header = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"
    for where, fields, idx in csv_rows(path, COLUMNS, header):
        if model is not None and fields[idx["Model"]].strip() != model:
            count_skipped(skipped, OTHER_MODEL)
            continue
        if log_type is not None and fields[idx["Log Type"]].strip() != log_type:
            count_skipped(skipped, OTHER_LOG_TYPE)
            continue
        t = parse_float(fields[idx["Timestamp"]].strip(), "Timestamp", where)
        prompt = parse_int(fields[idx["Request tokens"]].strip(), "Request tokens", where,
                           minimum=0)
        output = parse_int(fields[idx["Response tokens"]].strip(), "Response tokens",
                           where, minimum=0)
        if output == 0 or prompt == 0:
            count_skipped(skipped, FAILED)
            continue
        times.append(t)
        wheres.append(where)
        lengths.append((prompt, output))
    order, rel = apply_window(times, speedup=speedup, max_requests=max_requests,
                              wheres=wheres, column="Timestamp")
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=lengths[i][0],
                       num_output_tokens=lengths[i][1], service=service)
            for k, (i, t) in enumerate(zip(order, rel, strict=True))]


def _read_fast(path: Path, model: str | None, log_type: str | None,
               skipped: dict[str, int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(time, prompt, output) of the kept rows in file order, parsed by pyarrow; None when
    anything is unusual (the csv reader then names the bad line)."""
    types = {"Timestamp": "float", "Request tokens": "int", "Response tokens": "int"}
    if model is not None:
        types["Model"] = "str"
    if log_type is not None:
        types["Log Type"] = "str"
    cols = read_csv_columns(path, types)
    if cols is None:
        return None
    t, prompts = cols["Timestamp"], cols["Request tokens"]
    outputs = cols["Response tokens"]
    if len(t) and not (np.isfinite(t).all() and t.min() >= 0 and prompts.min() >= 0
                       and outputs.min() >= 0
                       and max(prompts.max(), outputs.max()) <= MAX_TOKENS
                       and span_ok(t)):
        return None
    keep = np.ones(len(t), dtype=bool)
    # the reasons in the row-by-row reader's order: model, log type, failed
    if model is not None:
        match = np.array([m.strip() == model for m in cols["Model"]], dtype=bool)
        count_skipped(skipped, OTHER_MODEL, int((~match).sum()))
        keep &= match
    if log_type is not None:
        match = np.array([v.strip() == log_type for v in cols["Log Type"]], dtype=bool)
        count_skipped(skipped, OTHER_LOG_TYPE, int((keep & ~match).sum()))
        keep &= match
    ok = (prompts > 0) & (outputs > 0)
    count_skipped(skipped, FAILED, int((keep & ~ok).sum()))
    keep &= ok
    return t[keep], prompts[keep], outputs[keep]
