"""Reader for Microsoft's raw Philly job log (``cluster_job_log``, msr-fiddle/philly-traces).

The file is one JSON array of jobs (JSON Lines, one job per line, is accepted too)::

    {"status": "Pass", "vc": "ee9e8c", "jobid": "application_..._14199", "user": "ce2f4c",
     "submitted_time": "2017-10-07 01:11:39",
     "attempts": [{"start_time": "2017-10-07 01:12:09", "end_time": "2017-10-07 01:13:23",
                   "detail": [{"ip": "m47", "gpus": ["gpu0", "gpu1"]}]}, ...]}

``status`` is ``Pass``, ``Killed`` or ``Failed``. Following the trace's published analysis
(Jeon et al., ATC'19, and the repository's notebook): the GPU count is the number of GPUs
of the *first* attempt (summed over its servers), the queueing delay is first attempt start
− submit, and the run time is last attempt end − first attempt start. Jobs with no attempt,
no GPU, a missing start, or no end on the last attempt (still running at the snapshot) are
skipped and counted in :attr:`TraceWorkload.skipped`. Missing times are ``null``, ``""`` or
``"None"``. Malformed entries raise :class:`InputError` naming ``file:line`` and the key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gputwin.errors import InputError
from gputwin.workload.trace_common import (
    Selection,
    TraceRecord,
    TraceWorkload,
    build_workload,
    is_missing,
    open_text,
    parse_datetime_s,
)

KEYS = ("status", "vc", "jobid", "attempts", "submitted_time", "user")


def read_philly_json(
    path: Path,
    *,
    cluster: str | None = None,
    selection: Selection | None = None,
) -> TraceWorkload:
    """Read ``cluster_job_log`` at ``path``; ``cluster`` keeps one virtual cluster (``vc``).

    Raises :class:`InputError` for a missing file, invalid JSON or a malformed job.
    """
    sel = selection or Selection(id_prefix="philly")
    records: list[TraceRecord] = []
    skipped: dict[str, int] = {}
    for line, job in _iter_jobs(path):
        rec, reason = _to_record(job, path, line)
        if rec is not None and cluster is not None and rec.tenant != cluster:
            rec, reason = None, "cluster"
        if rec is None:
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            records.append(rec)
    return build_workload("philly_json", path, records, sel, skipped=skipped,
                          clock_s_of_day_offset=0.0)


def _iter_jobs(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open_text(path) as handle:
        text = handle.read()
    decoder = json.JSONDecoder()
    pos, line = _skip_ws(text, 0, 1)
    if pos >= len(text):
        raise InputError("empty job log (expected a JSON array of jobs)", where=f"{path}:1")
    array = text[pos] == "["
    if array:
        pos, line = _skip_ws(text, pos + 1, line)
        if pos < len(text) and text[pos] == "]":
            return
    while pos < len(text):
        try:
            job, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", where=f"{path}:{exc.lineno}") from None
        if not isinstance(job, dict):
            raise InputError(f"expected a job object, got {type(job).__name__}",
                             where=f"{path}:{line}")
        yield line, job
        line += text.count("\n", pos, end)
        pos, line = _skip_ws(text, end, line)
        if array:
            if pos < len(text) and text[pos] == ",":
                pos, line = _skip_ws(text, pos + 1, line)
            elif pos < len(text) and text[pos] == "]":
                return
            else:
                raise InputError("invalid JSON: expected ',' or ']' after a job",
                                 where=f"{path}:{line}")
    if array:
        raise InputError("invalid JSON: the array is not closed", where=f"{path}:{line}")


def _skip_ws(text: str, pos: int, line: int) -> tuple[int, int]:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        if text[pos] == "\n":
            line += 1
        pos += 1
    return pos, line


def _time(value: object, path: Path, line: int, key: str) -> float | None:
    if value is None or (isinstance(value, str) and is_missing(value)):
        return None
    if not isinstance(value, str):
        raise InputError(f"key {key!r}: expected 'YYYY-MM-DD HH:MM:SS', got {value!r}",
                         where=f"{path}:{line}")
    return parse_datetime_s(value, path, line, key)


def _to_record(job: dict[str, Any], path: Path, line: int) -> tuple[TraceRecord | None, str]:
    where = f"{path}:{line}"
    missing = [k for k in KEYS if k not in job]
    if missing:
        raise InputError(f"job lacks key(s) {', '.join(missing)}", where=where)
    attempts = job["attempts"]
    if not isinstance(attempts, list):
        raise InputError(f"key 'attempts': expected a list, got {attempts!r}", where=where)
    submit = _time(job["submitted_time"], path, line, "submitted_time")
    if submit is None:
        raise InputError("key 'submitted_time': missing", where=where)
    if not attempts:
        return None, "no attempt"
    num_gpus = 0
    for att in attempts:
        if not isinstance(att, dict) or not isinstance(att.get("detail", []), list):
            raise InputError("key 'attempts': expected objects with a 'detail' list",
                             where=where)
    for detail in attempts[0].get("detail", []):
        gpus = detail.get("gpus") if isinstance(detail, dict) else None
        if not isinstance(gpus, list):
            raise InputError("key 'attempts[0].detail': expected objects with a 'gpus' list",
                             where=where)
        num_gpus += len(gpus)
    start = _time(attempts[0].get("start_time"), path, line, "attempts[0].start_time")
    end = _time(attempts[-1].get("end_time"), path, line, "attempts[-1].end_time")
    if num_gpus == 0:
        return None, "no GPU"
    if start is None:
        return None, "no start time"
    if end is None:
        return None, "no end time"
    if end < start:
        raise InputError("key 'attempts': last end_time is before the first start_time",
                         where=where)
    return TraceRecord(
        line=line, submit_s=submit, duration_s=end - start, num_gpus=num_gpus,
        tenant=str(job["vc"]), queue=str(job["vc"]), status=str(job["status"]),
        wait_s=max(0.0, start - submit), user=str(job["user"]),
    ), ""
