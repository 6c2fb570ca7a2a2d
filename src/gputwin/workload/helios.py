"""Reader for SenseTime Helios traces (Hu et al., SC'21; S-Lab-System-Group/HeliosData).

``cluster_log.csv`` of each cluster (Earth, Saturn, Uranus, Venus)::

    job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue

``state`` is COMPLETED, CANCELLED, FAILED, TIMEOUT or NODE_FAIL; times are
``YYYY-MM-DD HH:MM:SS``; ``duration`` = end − start and ``queue`` = start − submit, in
seconds. A job runs for ``duration`` and is submitted at ``submit_time``; ``vc`` is the
tenant; ``queue`` is kept as the recorded wait. CPU-only jobs (``gpu_num == 0``, most rows of
the published files) are skipped (counted as ``"no GPU"``). Malformed rows raise
:class:`InputError` naming ``file:line`` and the column.
"""

from __future__ import annotations

from pathlib import Path

from gputwin.workload.trace_common import (
    CsvRows,
    Selection,
    TraceRecord,
    TraceWorkload,
    build_workload,
    is_missing,
    open_text,
    parse_datetime_s,
    parse_float,
    parse_int,
)

COLUMNS = ("job_id", "user", "vc", "gpu_num", "cpu_num", "node_num", "state",
           "submit_time", "start_time", "end_time", "duration", "queue")
REQUIRED = ("vc", "gpu_num", "state", "submit_time", "duration")


def read_helios(
    path: Path,
    *,
    cluster: str | None = None,
    selection: Selection | None = None,
) -> TraceWorkload:
    """Read ``cluster_log.csv`` at ``path``; ``cluster`` keeps one virtual cluster (``vc``).

    Raises :class:`InputError`.
    """
    sel = selection or Selection(id_prefix="helios")
    records: list[TraceRecord] = []
    skipped = {"no GPU": 0, "cluster": 0}
    with open_text(path) as handle:
        rows = CsvRows(handle, path, REQUIRED)
        has = {c: rows.has(c) for c in COLUMNS}
        for line, f in rows:
            gpus = parse_int(rows.get(f, "gpu_num", line), path, line, "gpu_num")
            if gpus == 0:
                skipped["no GPU"] += 1
                continue
            vc = rows.get(f, "vc", line)
            if cluster is not None and vc != cluster:
                skipped["cluster"] += 1
                continue
            rec = TraceRecord(
                line=line,
                submit_s=parse_datetime_s(rows.get(f, "submit_time", line), path, line,
                                          "submit_time"),
                duration_s=parse_float(rows.get(f, "duration", line), path, line, "duration",
                                       expected="seconds >= 0"),
                num_gpus=gpus, tenant=vc, queue=vc, status=rows.get(f, "state", line) or None,
            )
            if has["queue"]:
                text = rows.get(f, "queue", line)
                rec.wait_s = None if is_missing(text) else parse_float(
                    text, path, line, "queue", expected="seconds >= 0")
            if has["user"]:
                rec.user = rows.get(f, "user", line) or None
            if has["cpu_num"]:
                text = rows.get(f, "cpu_num", line)
                rec.num_cpus = None if is_missing(text) else parse_float(text, path, line,
                                                                         "cpu_num")
            records.append(rec)
    return build_workload("helios", path, records, sel, skipped=skipped,
                          clock_s_of_day_offset=0.0)
