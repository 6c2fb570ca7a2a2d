"""Write a serving run's outputs (summary.json, requests.parquet / .csv, generation.parquet /
.csv for image/video services, report.html).

Same pattern as :mod:`gputwin.run.outputs` (shared :func:`write_files`): nothing
half-written is ever visible. Per-request results go out as columns: one Arrow table
built from the :class:`RequestTable`'s arrays (no Python object per row), written as
Parquet and, on request, CSV by pyarrow. The HTML renderer is passed in (the report layer
sits above ``run/``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gputwin.run.outputs import (
    DEFAULT_OUTPUTS,
    REPORT_FILE,
    SUMMARY_FILE,
    FileContent,
    json_safe,
    table_csv_writer,
    table_parquet_writer,
    without_timing,
    write_files,
)
from gputwin.run.serving_results import (
    REQUEST_COLUMNS,
    REQUEST_STATUSES,
    ServingResult,
    request_table,
)

if TYPE_CHECKING:
    import pyarrow as pa

REQUESTS_FILE = "requests.csv"
REQUESTS_PARQUET_FILE = "requests.parquet"
GENERATION_FILE = "generation.csv"
GENERATION_PARQUET_FILE = "generation.parquet"


def serving_summary_json(result: ServingResult, timing: bool = True) -> str:
    """The summary as pretty JSON (non-finite floats become ``null``; ``timing=False``
    leaves out the wall-clock fields)."""
    summary = result.summary if timing else without_timing(result.summary)
    return json.dumps(json_safe(summary), indent=2) + "\n"


def _names_of(codes: Any, names: Sequence[str]) -> pa.Array:
    """A string column ``names[codes]`` built from its buffers with numpy (a dictionary
    cast would import ``pyarrow.compute``, ~45 ms of every run that writes results)."""
    import numpy as np
    import pyarrow as pa

    encoded = [n.encode("utf-8") for n in names]
    lens = np.array([len(b) for b in encoded], dtype=np.int64)
    row_lens = lens[codes]
    offsets = np.zeros(len(codes) + 1, dtype=np.int32)
    np.cumsum(row_lens, out=offsets[1:])
    width = max(1, int(lens.max()))
    padded = np.array(encoded, dtype=f"S{width}")[codes].view(np.uint8).reshape(-1, width)
    data = padded[np.arange(width) < row_lens[:, None]]
    return pa.StringArray.from_buffers(len(codes), pa.py_buffer(offsets),
                                       pa.py_buffer(data.tobytes()))

def requests_arrow(result: ServingResult) -> pa.Table:
    """The per-request results as an Arrow table (columns :data:`REQUEST_COLUMNS`):
    integers as int64, times as float64 with nulls where a thing never happened,
    ``truncated`` and ``warmup`` (a warm-up request, outside every summary metric) as 0/1
    and ``meets_slo`` as 0/1 or null (no SLO, not finished)."""
    import numpy as np
    import pyarrow as pa

    t = request_table(result.requests)
    statuses = _names_of(t.status.astype(np.int64), REQUEST_STATUSES)

    def opt(a: Any) -> pa.Array:
        return pa.array(a, type=pa.float64(), from_pandas=True)  # NaN -> null

    cols: dict[str, Any] = {
        "request_id": t.request_id, "service": pa.array(t.service, pa.string()),
        "status": statuses, "reason": pa.array(t.reason, pa.string()),
        "arrival_s": t.arrival_s, "prompt_tokens": t.prompt_tokens,
        "output_tokens": t.output_tokens, "cached_tokens": t.cached_tokens,
        "first_token_s": opt(t.first_token_s), "finish_s": opt(t.finish_s),
        "ttft_s": opt(t.ttft_s), "tpot_s": opt(t.tpot_s), "e2e_s": opt(t.e2e_s),
        "num_preemptions": t.num_preemptions, "replica": t.replica,
        "prefill_replica": t.prefill_replica,
        "truncated": t.truncated.astype(np.int64),
        "meets_slo": pa.array(t.meets_slo.astype(np.int64), mask=t.meets_slo < 0),
        "warmup": t.warmup.astype(np.int64)}
    return pa.table({name: pa.array(cols[name]) if isinstance(cols[name], np.ndarray)
                     else cols[name] for name in REQUEST_COLUMNS})


#: Columns of generation.parquet / generation.csv (one row per image/video request).
GENERATION_COLUMNS = ("request_id", "service", "status", "arrival_s", "start_s", "finish_s",
                      "latency_s", "frames", "height", "width", "steps", "video_s",
                      "replica", "batch")


def generation_arrow(result: ServingResult) -> pa.Table:
    """The image/video generation requests as an Arrow table (columns
    :data:`GENERATION_COLUMNS`): ``status`` finished, running or queued at the run's end;
    times null where a thing never happened; ``video_s`` 0 for an image."""
    import numpy as np
    import pyarrow as pa

    reqs = result.generation_requests
    start = np.array([r.start_s for r in reqs], dtype=np.float64)
    end = np.array([r.end_s for r in reqs], dtype=np.float64)
    arrival = np.array([r.arrival_s for r in reqs], dtype=np.float64)
    status = np.where(~np.isnan(end), "finished", np.where(~np.isnan(start), "running",
                                                            "queued"))

    def opt(a: Any) -> pa.Array:
        return pa.array(a, type=pa.float64(), from_pandas=True)  # NaN -> null

    shape = np.array([r.shape for r in reqs], dtype=np.int64).reshape(-1, 4)
    cols: dict[str, Any] = {
        "request_id": pa.array([r.request_id for r in reqs], pa.int64()),
        "service": pa.array([r.service for r in reqs], pa.string()),
        "status": pa.array(status.tolist(), pa.string()), "arrival_s": pa.array(arrival),
        "start_s": opt(start), "finish_s": opt(end), "latency_s": opt(end - arrival),
        "frames": pa.array(shape[:, 0]), "height": pa.array(shape[:, 1]),
        "width": pa.array(shape[:, 2]), "steps": pa.array(shape[:, 3]),
        "video_s": pa.array([r.video_s for r in reqs], pa.float64()),
        "replica": pa.array([r.replica for r in reqs], pa.int64()),
        "batch": pa.array([r.batch for r in reqs], pa.int64())}
    return pa.table({name: cols[name] for name in GENERATION_COLUMNS})


def requests_csv(result: ServingResult) -> str:
    """One row per request (every status); empty cells for values that do not exist."""
    import io

    buf = io.BytesIO()
    table_csv_writer(requests_arrow(result))(buf)
    return buf.getvalue().decode("utf-8")


def serving_tables(result: ServingResult, outputs: Collection[str] = DEFAULT_OUTPUTS
                   ) -> dict[str, FileContent]:
    """requests.csv and/or requests.parquet of ``result``, as ``outputs`` asks (columnar)."""
    contents: dict[str, FileContent] = {}
    if "parquet" in outputs or "csv" in outputs:
        tables = [(REQUESTS_FILE, REQUESTS_PARQUET_FILE, requests_arrow(result))]
        if result.generation_requests:
            tables.append((GENERATION_FILE, GENERATION_PARQUET_FILE, generation_arrow(result)))
        for csv_name, parquet_name, table in tables:
            if "csv" in outputs:
                contents[csv_name] = table_csv_writer(table)
            if "parquet" in outputs:
                contents[parquet_name] = table_parquet_writer(table)
    return contents


def write_serving_outputs(result: ServingResult, out_dir: Path,
                          render_html: Callable[[ServingResult], str] | None = None,
                          *, command: str = "simulate serve", timing: bool = True,
                          outputs: Collection[str] = DEFAULT_OUTPUTS) -> dict[str, Path]:
    """Write the files that ``outputs`` names (``summary``, ``parquet``, ``csv``,
    ``report``; policy: :mod:`gputwin.run.outputs`); returns their paths. ``report`` needs
    ``render_html``. Raises :class:`InputError`."""
    contents: dict[str, FileContent] = {}
    if "summary" in outputs:
        contents[SUMMARY_FILE] = serving_summary_json(result, timing)
    contents.update(serving_tables(result, outputs))
    if "report" in outputs and render_html is not None:
        contents[REPORT_FILE] = render_html(result)
    return write_files(contents, out_dir, command)
