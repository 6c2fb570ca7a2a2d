"""Write a run's outputs (summary.json, jobs.csv, report.html) without half-written files.

Everything is rendered in memory and written into a temporary folder beside ``out_dir``
first. If ``out_dir`` does not exist, the folder is renamed into place (atomic); if it
exists, each file is moved in with ``os.replace`` (atomic per file), so on any error the
previous outputs stay intact and no partial file is ever visible.

The HTML renderer is passed in (the report layer sits above ``run/``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gputwin.errors import InputError
from gputwin.run.results import JobRecord, SimulationResult

SUMMARY_FILE = "summary.json"
JOBS_FILE = "jobs.csv"
REPORT_FILE = "report.html"

JOB_COLUMNS: tuple[str, ...] = (
    "job_id", "kind", "model", "tenant", "num_gpus", "status", "reason", "submit_time_s",
    "start_time_s", "end_time_s", "wait_time_s", "run_time_s", "jct_s", "num_nodes",
    "num_leaves", "step_time_s", "num_steps", "tokens", "mfu", "energy_j",
    "co2e_g", "cost_usd", "water_l",
)


def summary_json(result: SimulationResult) -> str:
    """The summary as pretty JSON (non-finite floats become ``null``)."""
    return json.dumps(json_safe(result.summary), indent=2) + "\n"


def jobs_csv(jobs: list[JobRecord]) -> str:
    """One row per job (every status); empty cells for values that do not exist."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=JOB_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for job in jobs:
        writer.writerow({k: ("" if v is None else v) for k, v in job.to_row().items()})
    return buf.getvalue()


def write_outputs(
    result: SimulationResult,
    out_dir: Path,
    render_html: Callable[[SimulationResult], str] | None = None,
) -> dict[str, Path]:
    """Write summary.json, jobs.csv and (given a renderer) report.html; returns their paths.

    ``render_html`` is :func:`gputwin.report.html.render_report` in the CLI; it is a
    parameter because ``run/`` may not import the report layer. ``None`` skips the report.

    Raises :class:`InputError` if ``out_dir`` exists and is not a folder, or cannot be
    written.
    """
    contents = {SUMMARY_FILE: summary_json(result), JOBS_FILE: jobs_csv(result.jobs)}
    if render_html is not None:
        contents[REPORT_FILE] = render_html(result)
    return write_files(contents, out_dir)


def write_files(contents: dict[str, str], out_dir: Path) -> dict[str, Path]:
    """Write ``{file name: text}`` into ``out_dir`` atomically (see the module docstring).

    Shared by every kind of run (training simulation, serving simulation). Raises
    :class:`InputError` if ``out_dir`` exists and is not a folder, or cannot be written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("exists and is not a folder", where=str(out_dir))
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the output folder is an ordinary one
    except OSError as exc:
        raise InputError(f"cannot create output folder: {exc.strerror}",
                         where=str(out_dir)) from None
    try:
        for name, text in contents.items():
            (tmp / name).write_text(text, encoding="utf-8")
        if not out_dir.exists():
            tmp.rename(out_dir)
        else:
            for name in contents:
                os.replace(tmp / name, out_dir / name)
    except OSError as exc:
        raise InputError(f"cannot write outputs: {exc.strerror}", where=str(out_dir)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {name: out_dir / name for name in contents}


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth) replaced by ``None``.

    JSON has no NaN/Infinity; summaries use them for "not applicable" (e.g. a percentile of
    no jobs), which readers see as ``null``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
