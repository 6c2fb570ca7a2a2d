"""HTML tables of notable jobs and of the run's raw summary.

Every cell is escaped with :func:`html.escape`. Numeric cells carry a ``data-sort``
attribute with the raw SI value so the page's small sort script (click a header) orders
them numerically while showing human units. Tables are capped; the caption says how many
rows are shown out of how many.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gputwin.report.fmt import MISSING, fmt_duration, fmt_sim_time, fmt_value
from gputwin.run.results import JobRecord, SimulationResult

MAX_ROWS = 25
MAX_FAILED_ROWS = 100


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: header, display text, and optional numeric sort key (SI units)."""

    header: str
    text: Callable[[JobRecord], str]
    sort_key: Callable[[JobRecord], float | None] | None = None


def _queued_wait_s(job: JobRecord, horizon_s: float) -> float | None:
    """Wait so far: submit → start, or submit → horizon for jobs never started."""
    if job.wait_time_s is not None:
        return job.wait_time_s
    if job.status == "queued":
        return max(0.0, horizon_s - job.submit_time_s)
    return None


def _job_columns(horizon_s: float) -> dict[str, Column]:
    def wait(j: JobRecord) -> float | None:
        return _queued_wait_s(j, horizon_s)

    def wait_text(j: JobRecord) -> str:
        text = fmt_duration(wait(j))
        return text + " (still queued)" if j.status == "queued" else text

    return {
        "job": Column("job", lambda j: j.job_id),
        "kind": Column("kind", lambda j: j.kind),
        "model": Column("model", lambda j: j.model),
        "tenant": Column("tenant", lambda j: j.tenant),
        "gpus": Column("GPUs", lambda j: f"{j.num_gpus:,}", lambda j: float(j.num_gpus)),
        "status": Column("status", lambda j: j.status),
        "submit": Column("submitted at", lambda j: fmt_sim_time(j.submit_time_s),
                         lambda j: j.submit_time_s),
        "wait": Column("wait", wait_text, wait),
        "run": Column("run time", lambda j: fmt_duration(j.run_time_s), lambda j: j.run_time_s),
        "jct": Column("JCT", lambda j: fmt_duration(j.jct_s), lambda j: j.jct_s),
        "end": Column("ended at", lambda j: fmt_sim_time(j.end_time_s), lambda j: j.end_time_s),
        "reason": Column("reason", lambda j: j.reason or MISSING),
    }


def _cell(col: Column, job: JobRecord) -> str:
    text = html.escape(col.text(job))
    if col.sort_key is None:
        return f"<td>{text}</td>"
    key = col.sort_key(job)
    sort = "" if key is None or not math.isfinite(key) else f"{key:.9g}"
    return f'<td class="num" data-sort="{sort}">{text}</td>'


def render_table(
    table_id: str, caption: str, columns: Sequence[Column], jobs: Sequence[JobRecord],
    total: int,
) -> str:
    """A ``<table>`` of ``jobs``; the caption notes "showing n of total" when capped."""
    head = "".join(
        f'<th data-type="{"num" if c.sort_key else "text"}">{html.escape(c.header)}</th>'
        for c in columns
    )
    body = "\n".join(
        "<tr>" + "".join(_cell(c, j) for c in columns) + "</tr>" for j in jobs
    )
    note = f" — showing {len(jobs):,} of {total:,}" if len(jobs) < total else ""
    return (
        f'<table id="{html.escape(table_id)}" class="sortable">'
        f"<caption>{html.escape(caption + note)}</caption>"
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"
    )


def _top(jobs: Sequence[JobRecord], key: Callable[[JobRecord], float | None],
         limit: int) -> tuple[list[JobRecord], int]:
    """The ``limit`` jobs with the largest key (ties by job id), and how many had a key."""
    keyed = [(k, j) for j in jobs if (k := key(j)) is not None]
    keyed.sort(key=lambda kj: (-kj[0], kj[1].job_id))
    return [j for _, j in keyed[:limit]], len(keyed)


def slowest_jobs_table(result: SimulationResult, limit: int = MAX_ROWS) -> str | None:
    """Completed jobs with the longest JCT; ``None`` if nothing completed."""
    cols = _job_columns(result.end_time_s)
    done = [j for j in result.jobs if j.status == "completed"]
    rows, total = _top(done, lambda j: j.jct_s, limit)
    if not rows:
        return None
    names = ("job", "kind", "model", "tenant", "gpus", "submit", "wait", "run", "jct")
    return render_table("table-slowest", "Slowest completed jobs (by JCT)",
                        [cols[n] for n in names], rows, total)


def longest_waiting_table(result: SimulationResult, limit: int = MAX_ROWS) -> str | None:
    """Jobs with the longest wait, counting still-queued jobs' wait up to the horizon."""
    cols = _job_columns(result.end_time_s)
    rows, total = _top(result.jobs, lambda j: _queued_wait_s(j, result.end_time_s), limit)
    if not rows:
        return None
    names = ("job", "kind", "model", "tenant", "gpus", "status", "submit", "wait", "reason")
    return render_table("table-waiting", "Longest-waiting jobs",
                        [cols[n] for n in names], rows, total)


def failed_jobs_table(result: SimulationResult, limit: int = MAX_FAILED_ROWS) -> str | None:
    """Failed jobs with their reasons, latest failure first; ``None`` if none failed."""
    cols = _job_columns(result.end_time_s)
    failed = [j for j in result.jobs if j.status == "failed"]
    rows, total = _top(failed, lambda j: j.end_time_s if j.end_time_s is not None
                       else j.submit_time_s, limit)
    if not rows:
        return None
    names = ("job", "kind", "model", "tenant", "gpus", "submit", "end", "run", "reason")
    return render_table("table-failed", "Failed jobs and why",
                        [cols[n] for n in names], rows, total)


def _summary_value(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return fmt_value(value)


def summary_table(summary: dict[str, Any]) -> str | None:
    """The run's ``summary`` dict as key/value rows (sorted keys); ``None`` if empty."""
    if not summary:
        return None
    rows = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_summary_value(summary[k]))}</td>"
        "</tr>"
        for k in sorted(summary, key=str)
    )
    return f'<table id="table-summary" class="kv"><tbody>\n{rows}\n</tbody></table>'
