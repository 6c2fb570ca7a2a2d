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

from gputwin.errors import InputError
from gputwin.workload.llm_request import MOONCAKE_HASH_BLOCK_TOKENS, LlmRequest
from gputwin.workload.llm_trace_io import apply_window, open_trace, parse_float, parse_int

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
    times: list[float] = []
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
            rows.append((prompt, output, hashes if use_hash_ids else ()))
    order, rel = apply_window(times, speedup=speedup, max_requests=max_requests)
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=rows[i][0],
                       num_output_tokens=rows[i][1], prefix_hashes=rows[i][2],
                       hash_block_tokens=MOONCAKE_HASH_BLOCK_TOKENS, service=service)
            for k, (i, t) in enumerate(zip(order, rel, strict=True))]


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
