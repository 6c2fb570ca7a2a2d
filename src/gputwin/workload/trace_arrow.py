"""Columnar fast paths of the trace readers: parse a whole CSV or JSON-lines file with
pyarrow's C++ readers (no Python loop per row).

Each function returns ``None`` when the file is anything but well formed (a missing file,
a bad number, a short row, an unexpected type): the reader then falls back to its
line-by-line parser, whose only job in that case is to name the offending ``file:line``
and field. So the fast path changes the speed, never the accepted values or the errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

    from gputwin.workload.llm_request import LlmRequest


def read_csv_columns(path: Path, column_types: Mapping[str, str]
                     ) -> dict[str, np.ndarray] | None:
    """The named columns of the CSV file at ``path`` (header line first) as numpy
    arrays, typed ``"int"`` (int64), ``"float"`` (float64), ``"str"`` (object) or
    ``"time"`` (int64 microseconds since the epoch, truncated like
    :meth:`datetime.fromisoformat`), or ``None`` (see the module docstring). A null (an
    empty cell) anywhere also gives ``None``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(),
             "time": pa.timestamp("ns")}
    try:
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(
                column_types={c: types[t] for c, t in column_types.items()},
                include_columns=list(column_types)))
    except (pa.ArrowException, OSError, ValueError):
        return None
    return _columns(table, column_types)


def read_jsonl_table(path: Path) -> pa.Table | None:
    """The JSON-lines file at ``path`` as an Arrow table (types inferred), or ``None``."""
    import pyarrow as pa
    import pyarrow.json as pajson

    try:
        return pajson.read_json(path)
    except (pa.ArrowException, OSError, ValueError):
        return None


def _columns(table: pa.Table, column_types: Mapping[str, str]
             ) -> dict[str, np.ndarray] | None:
    out: dict[str, np.ndarray] = {}
    for name, kind in column_types.items():
        col = table.column(name)
        if col.null_count:
            return None
        if kind == "time":  # via numpy: a cast would import pyarrow.compute (~0.1 s)
            ns = col.to_numpy().astype("datetime64[ns]").astype(np.int64)
            out[name] = ns // 1000
        elif kind == "str":
            out[name] = np.array(col.to_pylist(), dtype=object)
        else:
            out[name] = col.to_numpy()
    return out


def int_column(table: pa.Table, name: str, minimum: int) -> np.ndarray | None:
    """A column of whole numbers >= ``minimum`` (ints, or floats such as ``12.0``) as
    int64, or ``None`` when it is missing, has nulls or holds anything else."""
    import pyarrow as pa

    if name not in table.column_names:
        return None
    col = table.column(name)
    if col.null_count or not (pa.types.is_integer(col.type)
                              or pa.types.is_floating(col.type)):
        return None
    values = col.to_numpy()
    if values.dtype.kind == "f":
        if not (np.isfinite(values).all() and (values == np.floor(values)).all()):
            return None
        if len(values) and (values.max() >= 2**63 or values.min() < minimum):
            return None
        values = values.astype(np.int64)
    if len(values) and int(values.min()) < minimum:
        return None
    out: np.ndarray = values.astype(np.int64, copy=False)
    return out


def window(times_s: np.ndarray, *, speedup: float, max_requests: int | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gputwin.workload.llm_trace_io.apply_window` on arrays: indices kept (by time,
    stable) and their times relative to the first, divided by ``speedup``."""
    import math

    from gputwin.errors import InputError

    if speedup <= 0 or not math.isfinite(speedup):
        raise InputError(f"speedup must be a positive number, got {speedup!r}")
    order = np.argsort(times_s, kind="stable")
    if max_requests is not None:
        order = order[:max_requests]
    if len(order) == 0:
        return order, np.zeros(0)
    return order, (times_s[order] - times_s[order[0]]) / speedup


def requests_from_columns(times_s: np.ndarray, prompts: np.ndarray, outputs: np.ndarray,
                          *, speedup: float, max_requests: int | None, service: str,
                          prefix_hashes: Sequence[tuple[int, ...]] | None = None,
                          hash_block_tokens: int | None = None) -> list[LlmRequest]:
    """The requests of a trace read as columns (file order), sorted by arrival (stable),
    ids 0, 1, ... (:func:`window` for ``speedup`` and ``max_requests``)."""
    from gputwin.workload.llm_request import MOONCAKE_HASH_BLOCK_TOKENS, LlmRequest

    order, rel = window(times_s, speedup=speedup, max_requests=max_requests)
    if prefix_hashes is None:
        return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=p,
                           num_output_tokens=o, service=service)
                for k, (t, p, o) in enumerate(zip(rel.tolist(), prompts[order].tolist(),
                                                  outputs[order].tolist(), strict=True))]
    block = MOONCAKE_HASH_BLOCK_TOKENS if hash_block_tokens is None else hash_block_tokens
    return [LlmRequest(request_id=k, arrival_time_s=t, num_prompt_tokens=p,
                       num_output_tokens=o, prefix_hashes=prefix_hashes[i],
                       hash_block_tokens=block, service=service)
            for k, (i, t, p, o) in enumerate(zip(order.tolist(), rel.tolist(),
                                                 prompts[order].tolist(),
                                                 outputs[order].tolist(), strict=True))]
