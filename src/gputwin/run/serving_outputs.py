"""Write a serving run's outputs (summary.json, requests.csv, report.html) atomically.

Same pattern as :mod:`gputwin.run.outputs` (shared :func:`write_files`): everything is
rendered in memory first; no half-written file is ever visible. The HTML renderer is
passed in (the report layer sits above ``run/``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from gputwin.run.outputs import (
    REPORT_FILE,
    SUMMARY_FILE,
    json_safe,
    table_parquet,
    without_timing,
    write_files,
)
from gputwin.run.serving_results import REQUEST_COLUMNS, ServingResult

REQUESTS_FILE = "requests.csv"
REQUESTS_PARQUET_FILE = "requests.parquet"


def serving_summary_json(result: ServingResult, timing: bool = True) -> str:
    """The summary as pretty JSON (non-finite floats become ``null``; ``timing=False``
    leaves out the wall-clock fields)."""
    summary = result.summary if timing else without_timing(result.summary)
    return json.dumps(json_safe(summary), indent=2) + "\n"


def requests_csv(result: ServingResult) -> str:
    """One row per request (every status); empty cells for values that do not exist."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REQUEST_COLUMNS)
    for rec in result.requests:
        writer.writerow(["" if v is None else v for v in rec.to_row()])
    return buf.getvalue()


def serving_tables(result: ServingResult) -> dict[str, str | bytes]:
    """requests.csv and requests.parquet of ``result``."""
    return {REQUESTS_FILE: requests_csv(result),
            REQUESTS_PARQUET_FILE: table_parquet(REQUEST_COLUMNS,
                                                 (rec.to_row() for rec in result.requests))}


def write_serving_outputs(result: ServingResult, out_dir: Path,
                          render_html: Callable[[ServingResult], str] | None = None,
                          *, command: str = "simulate serve", timing: bool = True
                          ) -> dict[str, Path]:
    """Write the three files (policy: :mod:`gputwin.run.outputs`); returns their paths.
    Raises :class:`InputError`."""
    contents: dict[str, str | bytes] = {
        SUMMARY_FILE: serving_summary_json(result, timing), **serving_tables(result)}
    if render_html is not None:
        contents[REPORT_FILE] = render_html(result)
    return write_files(contents, out_dir, command)

