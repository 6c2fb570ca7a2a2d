"""Reader for BurstGPT traces (``Timestamp,Model,Request tokens,Response tokens,Total
tokens,Log Type``).

HPMLL/BurstGPT (Wang et al., arXiv:2401.17644): ChatGPT and GPT-4 requests served on Azure.
``Timestamp`` is seconds from the start of the trace, ``Request tokens`` the prompt,
``Response tokens`` the output (0 marks a failed request in the files that keep
failures; those rows are skipped). ``model`` and ``log_type`` filter rows (e.g.
``"ChatGPT"``, ``"Conversation log"``). Malformed rows raise :class:`InputError` naming
``file:line`` and the column.
"""

from __future__ import annotations

from pathlib import Path

from gputwin.workload.llm_request import LlmRequest
from gputwin.workload.llm_trace_io import apply_window, csv_rows, parse_float, parse_int

COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens", "Log Type")


def read_burstgpt_csv(
    path: Path,
    *,
    max_requests: int | None = None,
    speedup: float = 1.0,
    service: str = "default",
    model: str | None = None,
    log_type: str | None = None,
) -> list[LlmRequest]:
    """Requests of the trace at ``path`` sorted by arrival, ids 0, 1, ...

    Rows with 0 response tokens (failed requests) are skipped. Raises :class:`InputError`.
    """
    times: list[float] = []
    lengths: list[tuple[int, int]] = []
    header = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"
    for where, fields, idx in csv_rows(path, COLUMNS, header):
        if model is not None and fields[idx["Model"]].strip() != model:
            continue
        if log_type is not None and fields[idx["Log Type"]].strip() != log_type:
            continue
        t = parse_float(fields[idx["Timestamp"]].strip(), "Timestamp", where)
        prompt = parse_int(fields[idx["Request tokens"]].strip(), "Request tokens", where,
                           minimum=0)
        output = parse_int(fields[idx["Response tokens"]].strip(), "Response tokens",
                           where, minimum=0)
        if output == 0 or prompt == 0:
            continue  # failed request in the trace
        times.append(t)
        lengths.append((prompt, output))
    order, rel = apply_window(times, speedup=speedup, max_requests=max_requests)
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=lengths[i][0],
                       num_output_tokens=lengths[i][1], service=service)
            for k, (i, t) in enumerate(zip(order, rel, strict=True))]
