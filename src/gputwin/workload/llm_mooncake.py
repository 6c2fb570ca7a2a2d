"""Reader for Mooncake FAST'25 traces (JSONL: ``timestamp`` ms, ``input_length``,
``output_length``, ``hash_ids``).

kvcache-ai/Mooncake ``FAST25-release/traces``: ``hash_ids`` are remapped ids of the
prompt's 512-token blocks; identical ids mean a reusable prefix (the ids are chained: the
same id at position *i* implies the same prefix up to that block), so prefix-cache hits in
the simulation are the ones the production trace had. Malformed lines raise
:class:`InputError` naming ``file:line`` and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gputwin.errors import InputError
from gputwin.workload.llm_request import MOONCAKE_HASH_BLOCK_TOKENS, LlmRequest
from gputwin.workload.llm_trace_io import (
    MAX_TOKENS,
    apply_window,
    open_trace,
    parse_float,
    parse_int,
    span_ok,
)
from gputwin.workload.trace_arrow import int_column, read_jsonl_table, requests_from_columns

FIELDS = ("timestamp", "input_length", "output_length", "hash_ids")


def read_mooncake_jsonl(
    path: Path,
    *,
    max_requests: int | None = None,
    speedup: float = 1.0,
    service: str = "default",
    use_hash_ids: bool = True,
) -> list[LlmRequest]:
    """Requests of the trace at ``path`` sorted by arrival (stable), ids 0, 1, ...

    ``use_hash_ids=False`` drops the prefix information (every prompt unique), which is
    what a run without prefix knowledge would see. Raises :class:`InputError`.
    """
    fast = _read_fast(path)
    if fast is not None:
        ms, in_tok, out_tok, hash_lists = fast
        return requests_from_columns(ms / 1000.0, in_tok, out_tok, speedup=speedup,
                                     max_requests=max_requests, service=service,
                                     prefix_hashes=hash_lists if use_hash_ids else None,
                                     hash_block_tokens=MOONCAKE_HASH_BLOCK_TOKENS)
    times: list[float] = []
    wheres: list[str] = []
    rows: list[tuple[int, int, tuple[int, ...]]] = []
    with open_trace(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", where=where) from None
            if not isinstance(obj, dict):
                raise InputError("expected a JSON object per line", where=where)
            missing = [f for f in FIELDS[:3] if f not in obj]
            if missing:
                raise InputError(f"missing field(s) {', '.join(missing)}", where=where)
            t_ms = parse_float(obj["timestamp"], "timestamp", where)
            prompt = parse_int(obj["input_length"], "input_length", where, minimum=1)
            output = parse_int(obj["output_length"], "output_length", where, minimum=1)
            hashes = _hash_ids(obj.get("hash_ids", []), prompt, where)
            times.append(t_ms / 1000.0)
            wheres.append(where)
            rows.append((prompt, output, hashes if use_hash_ids else ()))
    order, rel = apply_window(times, speedup=speedup, max_requests=max_requests,
                              wheres=wheres, column="timestamp")
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=rows[i][0],
                       num_output_tokens=rows[i][1], prefix_hashes=rows[i][2],
                       hash_block_tokens=MOONCAKE_HASH_BLOCK_TOKENS, service=service)
            for k, (i, t) in enumerate(zip(order, rel, strict=True))]


def _read_fast(path: Path
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, ...]]] | None:
    """(timestamp ms, prompt, output, hash ids) of every line, in file order, parsed by
    pyarrow; None when anything is unusual (the line reader then names the bad line)."""
    table = read_jsonl_table(path)
    if table is None or "timestamp" not in table.column_names:
        return None
    ts = table.column("timestamp")
    if ts.null_count or not (pa_numeric(ts.type)):
        return None
    t_ms = ts.to_numpy().astype(np.float64)
    prompts = int_column(table, "input_length", 1)
    outputs = int_column(table, "output_length", 1)
    if prompts is None or outputs is None or not (np.isfinite(t_ms).all()
                                                  and (t_ms >= 0).all()
                                                  and span_ok(t_ms / 1000.0)):
        return None
    if len(prompts) and max(int(prompts.max()), int(outputs.max())) > MAX_TOKENS:
        return None  # the line reader names the row
    hashes = _hash_lists(table, prompts)
    return None if hashes is None else (t_ms, prompts, outputs, hashes)


def pa_numeric(dtype: object) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype))


def _hash_lists(table: Any, prompts: np.ndarray) -> list[tuple[int, ...]] | None:
    """Per line, the tuple of hash ids (``()`` where the field is absent), or None if any
    list is null, holds a non-integer or a negative id, or is longer than the prompt."""
    import pyarrow as pa

    n = len(prompts)
    if "hash_ids" not in table.column_names:
        return [()] * n
    col = table.column("hash_ids").combine_chunks()
    if not pa.types.is_list(col.type) or col.null_count:
        return None
    flat = col.values
    if len(flat) and (not pa.types.is_integer(flat.type) or flat.null_count):
        return None
    ids = flat.to_numpy() if len(flat) else np.zeros(0, np.int64)
    if len(ids) and int(ids.min()) < 0:
        return None
    offsets = col.offsets.to_numpy()
    counts = np.diff(offsets)
    if (counts > -(-prompts // MOONCAKE_HASH_BLOCK_TOKENS)).any():
        return None
    values = ids.tolist()
    bounds = offsets.tolist()
    return [tuple(values[bounds[i]:bounds[i + 1]]) for i in range(n)]


def _hash_ids(value: object, prompt: int, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) and h >= 0 for h in value):
        raise InputError("field 'hash_ids': expected a list of non-negative integers",
                         where=where)
    max_blocks = -(-prompt // MOONCAKE_HASH_BLOCK_TOKENS)
    if len(value) > max_blocks:
        raise InputError(f"field 'hash_ids': {len(value)} ids for {prompt} input tokens "
                         f"(at most {max_blocks} blocks of {MOONCAKE_HASH_BLOCK_TOKENS})",
                         where=where)
    return tuple(value)
