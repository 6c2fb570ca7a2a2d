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

from gputwin.run.outputs import REPORT_FILE, SUMMARY_FILE, json_safe, write_files
from gputwin.run.serving_results import REQUEST_COLUMNS, ServingResult

REQUESTS_FILE = "requests.csv"


def serving_summary_json(result: ServingResult) -> str:
    """The summary as pretty JSON (non-finite floats become ``null``)."""
    return json.dumps(json_safe(result.summary), indent=2) + "\n"


def requests_csv(result: ServingResult) -> str:
    """One row per request (every status); empty cells for values that do not exist."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REQUEST_COLUMNS)
    for rec in result.requests:
        writer.writerow(["" if v is None else v for v in rec.to_row()])
    return buf.getvalue()


def write_serving_outputs(result: ServingResult, out_dir: Path,
                          render_html: Callable[[ServingResult], str] | None = None
                          ) -> dict[str, Path]:
    """Write the three files; returns their paths. Raises :class:`InputError`."""
    contents = {SUMMARY_FILE: serving_summary_json(result), REQUESTS_FILE: requests_csv(result)}
    if render_html is not None:
        contents[REPORT_FILE] = render_html(result)
    return write_files(contents, out_dir)

