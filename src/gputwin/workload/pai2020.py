"""Reader for the Alibaba PAI GPU trace 2020 (Weng et al., "MLaaS in the Wild", NSDI'22).

Two tables of alibaba/clusterdata ``cluster-trace-gpu-v2020`` (published *without* a header
line; the column order is in the ``.header`` files; a header line is accepted too)::

    pai_task_table.csv: job_name,task_name,inst_num,status,start_time,end_time,
                        plan_cpu,plan_mem,plan_gpu,gpu_type
    pai_job_table.csv:  job_name,inst_id,user,status,start_time,end_time

A job has one or more tasks (roles such as ``ps``/``worker``), each of ``inst_num``
instances. ``plan_gpu`` is GPUs per instance in percent (50 = half a GPU), ``plan_cpu`` CPU
cores in percent, ``plan_mem`` GB (read as GiB) of memory; ``gpu_type`` is the assigned GPU
model (``MISC`` = older generations). Per job: ``num_gpus`` = Σ inst_num × ⌈plan_gpu/100⌉
(GPU devices touched); a job on one device asks for its share of that GPU (a single 50 %
instance is 1 GPU at 500 milli), a job on several asks for ⌈total share⌉ whole GPUs (see
:func:`gpu_request`); run time = last task end − first task start.

The *job* table's ``start_time`` is the submission time (README), so with it the submit time
is that and the recorded wait is first task start − submission; without it the job is
submitted at its first task start. Times are seconds; shifted to UTC+8 they have the real
time of day. Jobs without GPU, without a start, or still running (no end) are skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gputwin.errors import InputError
from gputwin.workload.trace_common import (
    GIB,
    CsvRows,
    Selection,
    TraceRecord,
    TraceWorkload,
    build_workload,
    is_missing,
    open_text,
    parse_float,
)

TASK_COLUMNS = ("job_name", "task_name", "inst_num", "status", "start_time", "end_time",
                "plan_cpu", "plan_mem", "plan_gpu", "gpu_type")
JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")
TASK_TABLE = "pai_task_table.csv"
JOB_TABLE = "pai_job_table.csv"
#: README: "if translated to Unix time in UTC+8 ... the same time of the day"
UTC_OFFSET_S = 8 * 3600.0


@dataclass(slots=True)
class _Job:
    line: int
    devices: int = 0  # Σ inst_num × ⌈plan_gpu/100⌉
    share_pct: float = 0.0
    cpus: float = 0.0
    mem_bytes: float = 0.0
    start: float = math.inf
    end: float = -math.inf
    missing_start: bool = False
    missing_end: bool = False
    statuses: set[str] = field(default_factory=set)
    gpu_types: list[str] = field(default_factory=list)


def read_pai2020(
    path: Path,
    *,
    job_table: Path | None = None,
    selection: Selection | None = None,
) -> TraceWorkload:
    """Read the task table at ``path`` (or a directory holding both tables).

    ``job_table``: the job table (default: :data:`JOB_TABLE` beside the task table, when it
    exists). Raises :class:`InputError`.
    """
    sel = selection or Selection(id_prefix="pai")
    if path.is_dir():
        path = path / TASK_TABLE
    if job_table is None and (path.parent / JOB_TABLE).is_file():
        job_table = path.parent / JOB_TABLE
    jobs = _read_tasks(path)
    submits: dict[str, tuple[float | None, str | None, str | None]] = {}
    if job_table is not None:
        submits = _read_job_table(job_table, jobs)
    records: list[TraceRecord] = []
    skipped = {"no GPU": 0, "no start time": 0, "no end time": 0}
    for name, job in jobs.items():
        if job.devices == 0:
            skipped["no GPU"] += 1
        elif job.missing_start or not math.isfinite(job.start):
            skipped["no start time"] += 1
        elif job.missing_end or not math.isfinite(job.end):
            skipped["no end time"] += 1
        else:
            records.append(_record(job, submits.get(name)))
    return build_workload("pai2020", path, records, sel, skipped=skipped,
                          clock_s_of_day_offset=UTC_OFFSET_S)


def _record(job: _Job, submit: tuple[float | None, str | None, str | None] | None) -> TraceRecord:
    sub_s, user, status = submit if submit is not None else (None, None, None)
    if status is None:
        status = _combined_status(job.statuses)
    num_gpus, milli = gpu_request(job.devices, job.share_pct)
    types = sorted(set(job.gpu_types))
    return TraceRecord(
        line=job.line, submit_s=job.start if sub_s is None else min(sub_s, job.start),
        duration_s=job.end - job.start if job.end >= job.start else 0.0,
        num_gpus=num_gpus, tenant=user or "pai", gpu_milli=milli, status=status,
        wait_s=None if sub_s is None else max(0.0, job.start - sub_s), user=user,
        gpu_type="|".join(types) if types else None, num_cpus=job.cpus,
        memory_bytes=job.mem_bytes,
    )


def gpu_request(devices: int, share_pct: float) -> tuple[int, int]:
    """``(num_gpus, gpu_milli)`` for a job touching ``devices`` GPUs with ``share_pct`` total.

    One device: that share of one GPU. Several devices: whole GPUs carrying the total share,
    rounded up (a fractional request spans one GPU only, see :class:`JobSpec`).
    """
    if devices == 1:
        return 1, max(1, min(1000, round(share_pct * 10.0)))
    return max(1, math.ceil(share_pct / 100.0 - 1e-9)), 1000


def _combined_status(statuses: set[str]) -> str | None:
    if not statuses:
        return None
    if statuses == {"Terminated"}:
        return "Terminated"
    if "Failed" in statuses:
        return "Failed"
    return sorted(statuses - {"Terminated"})[0]


def _rows(handle: IO[str], path: Path, columns: tuple[str, ...]) -> CsvRows:
    first = handle.readline()
    if not first:
        raise InputError("empty table", where=f"{path}:1")
    if first.split(",", 1)[0].strip() == columns[0]:
        header = [h.strip() for h in first.strip().split(",")]
        return CsvRows(handle, path, columns, header=header, line_offset=1)
    handle.seek(0)
    return CsvRows(handle, path, columns, header=columns)


def _num(rows: CsvRows, f: list[str], column: str, line: int) -> float | None:
    text = rows.get(f, column, line)
    return None if is_missing(text) else parse_float(text, rows.path, line, column)


def _read_tasks(path: Path) -> dict[str, _Job]:
    jobs: dict[str, _Job] = {}
    with open_text(path, "task table") as handle:
        rows = _rows(handle, path, TASK_COLUMNS)
        for line, f in rows:
            name = rows.get(f, "job_name", line)
            job = jobs.get(name)
            if job is None:
                job = jobs[name] = _Job(line)
            inst = _num(rows, f, "inst_num", line) or 0.0
            gpu_pct = _num(rows, f, "plan_gpu", line) or 0.0
            if gpu_pct > 0 and inst > 0:
                job.devices += int(inst) * math.ceil(gpu_pct / 100.0 - 1e-9)
                job.share_pct += inst * gpu_pct
                gtype = rows.get(f, "gpu_type", line)
                if not is_missing(gtype):
                    job.gpu_types.append(gtype)
            job.cpus += inst * (_num(rows, f, "plan_cpu", line) or 0.0) / 100.0
            job.mem_bytes += inst * (_num(rows, f, "plan_mem", line) or 0.0) * GIB
            start, end = _num(rows, f, "start_time", line), _num(rows, f, "end_time", line)
            if start is None:
                job.missing_start = True
            else:
                job.start = min(job.start, start)
            if end is None:
                job.missing_end = True
            else:
                job.end = max(job.end, end)
            status = rows.get(f, "status", line)
            if status:
                job.statuses.add(status)
    return jobs


def _read_job_table(
    path: Path, jobs: dict[str, _Job]
) -> dict[str, tuple[float | None, str | None, str | None]]:
    out: dict[str, tuple[float | None, str | None, str | None]] = {}
    with open_text(path, "job table") as handle:
        rows = _rows(handle, path, JOB_COLUMNS)
        for line, f in rows:
            name = rows.get(f, "job_name", line)
            if name not in jobs:
                continue
            out[name] = (_num(rows, f, "start_time", line), rows.get(f, "user", line) or None,
                         rows.get(f, "status", line) or None)
    return out
