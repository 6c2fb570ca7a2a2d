"""Reader for the Standard Workload Format (SWF v2.2, Parallel Workloads Archive, Feitelson).

One job per line, 18 whitespace-separated fields, ``-1`` = unknown; lines starting with
``;`` are comments, the header ones as ``; Key: value`` (``MaxNodes``, ``MaxProcs``,
``UnixStartTime``...). Fields (1-based): 1 job number, 2 submit time [s], 3 wait time [s],
4 run time [s], 5 allocated processors, 6 average CPU time, 7 used memory [KB/proc],
8 requested processors, 9 requested time [s], 10 requested memory [KB/proc], 11 status
(1 completed, 0 failed, 5 cancelled, 2–4 checkpoint/partial), 12 user, 13 group,
14 executable, 15 queue, 16 partition, 17 preceding job, 18 think time.

A job asks for ``ceil(procs × gpu_per_proc)`` GPUs, ``procs`` being the requested
processors (field 8; the allocated ones, field 5, when unknown or ``procs="allocated"``);
it runs for its run time (field 4) and field 9 is its runtime limit. Jobs without a run
time or a processor count are skipped. When the header gives ``MaxNodes`` and ``MaxProcs``
the cluster is returned as ``MaxNodes`` nodes of ``MaxProcs/MaxNodes × gpu_per_proc`` GPUs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from gputwin.errors import InputError
from gputwin.workload.trace_common import (
    SECONDS_PER_DAY,
    Selection,
    TraceNode,
    TraceRecord,
    TraceWorkload,
    build_workload,
    open_text,
)

FIELDS = ("job_number", "submit_time", "wait_time", "run_time", "allocated_procs",
          "avg_cpu_time", "used_memory", "requested_procs", "requested_time",
          "requested_memory", "status", "user_id", "group_id", "executable", "queue",
          "partition", "preceding_job", "think_time")
STATUS = {"1": "completed", "0": "failed", "5": "cancelled", "2": "partial",
          "3": "partial-last-completed", "4": "partial-last-failed"}
ProcField = Literal["requested", "allocated"]


def read_swf(
    path: Path,
    *,
    gpu_per_proc: float = 1.0,
    procs: ProcField = "requested",
    selection: Selection | None = None,
) -> TraceWorkload:
    """Read the SWF file at ``path``. Raises :class:`InputError`."""
    if not (math.isfinite(gpu_per_proc) and gpu_per_proc > 0):
        raise InputError(f"option gpu_per_proc: expected a number > 0, got {gpu_per_proc!r}")
    sel = selection or Selection(id_prefix="swf")
    header: dict[str, str] = {}
    records: list[TraceRecord] = []
    skipped = {"no run time": 0, "no processors": 0}
    with open_text(path) as handle:
        for line, text in enumerate(handle, start=1):
            stripped = text.strip()
            if not stripped:
                continue
            if stripped.startswith(";"):
                key, sep, value = stripped[1:].partition(":")
                if sep and key.strip():
                    header.setdefault(key.strip(), value.strip())
                continue
            rec = _parse_job(stripped.split(), path, line, gpu_per_proc, procs)
            if isinstance(rec, str):
                skipped[rec] += 1
            else:
                records.append(rec)
    nodes = _nodes(header, path, gpu_per_proc)
    offset = None
    if "UnixStartTime" in header:
        start = _header_number(header, "UnixStartTime", path)
        offset = start % SECONDS_PER_DAY  # UTC time of day; TimeZoneString is not applied
    return build_workload("swf", path, records, sel, skipped=skipped, nodes=nodes,
                          clock_s_of_day_offset=offset)


def _parse_job(fields: list[str], path: Path, line: int, gpu_per_proc: float,
               procs: ProcField) -> TraceRecord | str:
    if len(fields) != len(FIELDS):
        raise InputError(f"expected {len(FIELDS)} whitespace-separated fields, got "
                         f"{len(fields)}", where=f"{path}:{line}")
    values: list[float] = []
    for name, text in zip(FIELDS, fields, strict=True):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or (value < 0 and value != -1):
            raise InputError(f"field {FIELDS.index(name) + 1} ({name}): expected a number "
                             f">= 0 or -1, got {text!r}", where=f"{path}:{line}")
        values.append(value)
    v = dict(zip(FIELDS, values, strict=True))
    if v["submit_time"] < 0:
        raise InputError("field 2 (submit_time): missing (-1)", where=f"{path}:{line}")
    if v["run_time"] < 0:
        return "no run time"
    count = v["requested_procs"] if procs == "requested" else v["allocated_procs"]
    if count <= 0:
        count = v["allocated_procs"] if procs == "requested" else v["requested_procs"]
    if count <= 0:
        return "no processors"
    queue, group = int(v["queue"]), int(v["group_id"])
    return TraceRecord(
        line=line, submit_s=v["submit_time"], duration_s=v["run_time"],
        num_gpus=max(1, math.ceil(count * gpu_per_proc - 1e-9)),
        tenant=f"queue-{queue}" if queue >= 0 else (f"group-{group}" if group >= 0 else "swf"),
        queue=str(queue) if queue >= 0 else "",
        status=STATUS.get(fields[10], None if v["status"] < 0 else fields[10]),
        wait_s=v["wait_time"] if v["wait_time"] >= 0 else None,
        user=str(int(v["user_id"])) if v["user_id"] >= 0 else None,
        runtime_limit_s=v["requested_time"] if v["requested_time"] > 0 else None,
    )


def _header_number(header: dict[str, str], key: str, path: Path) -> float:
    text = header[key].split()[0] if header[key].split() else ""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"header {key}: expected a number >= 0, got {header[key]!r}",
                         where=str(path))
    return value


def _nodes(header: dict[str, str], path: Path, gpu_per_proc: float) -> list[TraceNode]:
    if "MaxNodes" not in header or "MaxProcs" not in header:
        return []
    num_nodes = int(_header_number(header, "MaxNodes", path))
    max_procs = _header_number(header, "MaxProcs", path)
    if num_nodes <= 0 or max_procs <= 0:
        return []
    gpus = max(1, math.floor(max_procs / num_nodes * gpu_per_proc + 1e-9))
    width = len(str(num_nodes))
    return [TraceNode(f"swf-node-{i:0{width}d}", gpus, None, max_procs / num_nodes, None)
            for i in range(num_nodes)]
