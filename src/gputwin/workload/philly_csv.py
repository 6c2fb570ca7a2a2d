"""Reader for the Philly-derived job trace (``timestamp,duration,num_gpus,gpu_time,cluster``).

The format is the one published with the AdaptDL artifact (82,247 jobs derived from
Microsoft's Philly trace, Jeon et al., ATC 2019): ``timestamp`` is the submit time as
``YYYY-MM-DD HH:MM:SS``, ``duration`` the run time in seconds, ``num_gpus`` the gang size,
``gpu_time`` = duration × num_gpus and ``cluster`` the virtual cluster (used as tenant).
Rows are not sorted in the file; jobs are returned sorted by submit time, which is made
relative to the earliest selected row. Each job runs for its recorded duration
(``fixed_duration_s``), not through the performance model.

Malformed rows raise :class:`InputError` naming ``file:line`` and the column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from gputwin.errors import InputError
from gputwin.limits import MAX_GPUS
from gputwin.textio import check_row_width
from gputwin.workload.job import JobSpec
from gputwin.workload.trace_arrow import read_csv_columns
from gputwin.workload.trace_common import open_text

COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    submit: datetime
    duration_s: float
    num_gpus: int
    cluster: str


def read_philly_csv(
    path: Path,
    *,
    model: str = "unknown",
    kind: str = "trace",
    cluster: str | None = None,
    max_jobs: int | None = None,
    max_gpus: int | None = None,
    id_prefix: str = "philly",
) -> list[JobSpec]:
    """Read the trace at ``path``.

    ``cluster`` keeps one virtual cluster; ``max_gpus`` drops jobs larger than that;
    ``max_jobs`` keeps the earliest jobs after filtering. Raises :class:`InputError`.
    """
    fast = _read_fast(path)
    if fast is not None:
        return _jobs_from_columns(*fast, model=model, kind=kind, cluster=cluster,
                                  max_jobs=max_jobs, max_gpus=max_gpus, id_prefix=id_prefix)
    rows = [r for r in _read_rows(path) if cluster is None or r.cluster == cluster]
    if max_gpus is not None:
        rows = [r for r in rows if r.num_gpus <= max_gpus]
    rows.sort(key=lambda r: (r.submit, r.line))
    if max_jobs is not None:
        rows = rows[:max_jobs]
    if not rows:
        return []
    origin = rows[0].submit
    width = max(5, len(str(len(rows))))
    return [
        JobSpec(
            job_id=f"{id_prefix}-{i + 1:0{width}d}",
            kind=kind,
            tenant=row.cluster,
            model=model,
            num_gpus=row.num_gpus,
            submit_time_s=(row.submit - origin).total_seconds(),
            fixed_duration_s=row.duration_s,
        )
        for i, row in enumerate(rows)
    ]


def _read_fast(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(submit µs, duration s, GPUs, cluster) of every row in file order, parsed by
    pyarrow; None when anything is unusual (the csv reader then names the bad line)."""
    cols = read_csv_columns(path, {"timestamp": "time", "duration": "float",
                                   "num_gpus": "float", "gpu_time": "float",
                                   "cluster": "str"})
    if cols is None:
        return None
    dur, gpus = cols["duration"], cols["num_gpus"]
    if len(dur) and not (np.isfinite(dur).all() and dur.min() >= 0 and gpus.min() >= 1
                         and (gpus == np.floor(gpus)).all() and gpus.max() <= MAX_GPUS.value):
        return None
    clusters = np.array([c.strip() for c in cols["cluster"]], dtype=object)
    return cols["timestamp"], dur, gpus.astype(np.int64), clusters


def _jobs_from_columns(us: np.ndarray, dur: np.ndarray, gpus: np.ndarray,
                       clusters: np.ndarray, *, model: str, kind: str, cluster: str | None,
                       max_jobs: int | None, max_gpus: int | None, id_prefix: str
                       ) -> list[JobSpec]:
    keep = np.ones(len(us), dtype=bool)
    if cluster is not None:
        keep &= clusters == cluster
    if max_gpus is not None:
        keep &= gpus <= max_gpus
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(us[idx], kind="stable")]  # by submit time, then line
    if max_jobs is not None:
        idx = idx[:max_jobs]
    if len(idx) == 0:
        return []
    submit = ((us[idx] - us[idx[0]]) / 1e6).tolist()
    width = max(5, len(str(len(idx))))
    return [JobSpec(job_id=f"{id_prefix}-{i + 1:0{width}d}", kind=kind, tenant=c,
                    model=model, num_gpus=g, submit_time_s=t, fixed_duration_s=d)
            for i, (t, d, g, c) in enumerate(zip(submit, dur[idx].tolist(),
                                                 gpus[idx].tolist(),
                                                 clusters[idx].tolist(), strict=True))]


def _read_rows(path: Path) -> list[_Row]:
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputError("empty trace file (expected a header line)", where=f"{path}:1")
        missing = [c for c in COLUMNS if c not in [h.strip() for h in header]]
        if missing:
            raise InputError(
                f"header lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}",
                where=f"{path}:1",
            )
        index = {name.strip(): i for i, name in enumerate(header)}
        rows: list[_Row] = []
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue  # blank lines (the published file ends with one)
            check_row_width(fields, len(header), f"{path}:{line}")
            rows.append(_parse_row(fields, index, f"{path}:{line}", line))
        return rows


def _field(fields: list[str], index: dict[str, int], column: str, where: str) -> str:
    i = index[column]
    if i >= len(fields):
        raise InputError(f"column {column!r}: missing (row has {len(fields)} fields)",
                         where=where)
    return fields[i].strip()


def _parse_row(fields: list[str], index: dict[str, int], where: str, line: int) -> _Row:
    text = _field(fields, index, "timestamp", where)
    try:
        submit = datetime.fromisoformat(text)  # C-fast; accepts the file's format
    except ValueError:
        raise InputError(f"column 'timestamp': expected 'YYYY-MM-DD HH:MM:SS', got {text!r}",
                         where=where) from None
    text = _field(fields, index, "duration", where)
    try:
        duration_s = float(text)
    except ValueError:
        duration_s = math.nan
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise InputError(f"column 'duration': expected seconds >= 0, got {text!r}", where=where)
    text = _field(fields, index, "num_gpus", where)
    try:
        num_gpus = int(float(text)) if float(text).is_integer() else -1
    except ValueError:
        num_gpus = -1
    if num_gpus <= 0:
        raise InputError(f"column 'num_gpus': expected a positive integer, got {text!r}",
                         where=where)
    if num_gpus > MAX_GPUS.value:
        raise InputError(f"column 'num_gpus': {MAX_GPUS.message(num_gpus)}", where=where)
    text = _field(fields, index, "gpu_time", where)
    try:
        float(text)
    except ValueError:
        raise InputError(f"column 'gpu_time': expected a number, got {text!r}",
                         where=where) from None
    return _Row(line, submit, duration_s, num_gpus, _field(fields, index, "cluster", where))
