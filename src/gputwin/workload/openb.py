"""Reader for the Alibaba GPU cluster trace 2023 "openb" (Weng et al., FGD, USENIX ATC'23).

Pod list (``openb_pod_list_*.csv``)::

    name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,
    creation_time,deletion_time,scheduled_time

``num_gpu`` is 0..8 GPUs; ``gpu_milli`` is the share of each GPU (1..1000; < 1000 only for
GPU-sharing pods with ``num_gpu == 1``); ``gpu_spec`` lists acceptable GPU models
(``V100M16|V100M32``; empty = any); ``qos`` is LS / BE / Burstable / Guaranteed;
``pod_phase`` Succeeded / Running / Pending / Failed; times are seconds. A pod becomes a
job submitted at ``creation_time`` that runs from ``scheduled_time`` (or creation, when it
was never scheduled) until ``deletion_time``; the recorded wait is scheduled − creation.
CPU-only pods (``num_gpu == 0``) are skipped (counted as ``"no GPU"``).

Some published variants (``openb_pod_list_multigpu50.csv``) have only the resource columns
``name,cpu_milli,memory_mib,num_gpu,gpu_milli``: they carry no times, so all pods are
submitted at 0 s in file order and run for the ``duration_s`` option (required then).

Node list (``openb_node_list_gpu_node.csv`` / ``..._all_node.csv``):
``sn,cpu_milli,memory_mib,gpu,model`` → :class:`TraceNode` (GPU-less nodes are kept with
``num_gpus == 0``). By default the GPU node list beside the pod list is read when present.
"""

from __future__ import annotations

from pathlib import Path

from gputwin.errors import InputError
from gputwin.workload.trace_common import (
    MIB,
    CsvRows,
    Selection,
    TraceNode,
    TraceRecord,
    TraceWorkload,
    bad,
    build_workload,
    is_missing,
    open_text,
    parse_float,
    parse_int,
)

RESOURCE_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
TIME_COLUMNS = ("creation_time", "deletion_time", "scheduled_time")
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
DEFAULT_NODE_LIST = "openb_node_list_gpu_node.csv"


def read_openb(
    path: Path,
    *,
    node_list: Path | None = None,
    nodes: bool = True,
    duration_s: float | None = None,
    selection: Selection | None = None,
) -> TraceWorkload:
    """Read the pod list at ``path`` (and a node list, see the module doc).

    ``node_list``: the node CSV (default: :data:`DEFAULT_NODE_LIST` beside ``path`` if it
    exists); ``nodes=False`` reads none. ``duration_s``: run time of every pod for pod lists
    without time columns. Raises :class:`InputError`.
    """
    sel = selection or Selection(id_prefix="openb")
    records, skipped = _read_pods(path, duration_s)
    node_rows: list[TraceNode] = []
    if nodes:
        if node_list is None:
            candidate = path.parent / DEFAULT_NODE_LIST
            node_list = candidate if candidate.is_file() else None
        if node_list is not None:
            node_rows = read_openb_nodes(node_list)
    return build_workload("openb", path, records, sel, skipped=skipped, nodes=node_rows)


def read_openb_host_pods(path: Path) -> list[tuple[float, float]]:
    """The CPU-only pods (``num_gpu == 0``) of a pod list as ``(cpu_milli, memory_bytes)``
    (they are not jobs; the workload-inflation experiment places them). Raises
    :class:`InputError`."""
    with open_text(path) as handle:
        rows = CsvRows(handle, path, RESOURCE_COLUMNS)
        out: list[tuple[float, float]] = []
        for line, f in rows:
            if parse_int(rows.get(f, "num_gpu", line), path, line, "num_gpu") != 0:
                continue
            out.append((parse_float(rows.get(f, "cpu_milli", line), path, line, "cpu_milli"),
                        parse_float(rows.get(f, "memory_mib", line), path, line,
                                    "memory_mib") * MIB))
        return out


def read_openb_nodes(path: Path) -> list[TraceNode]:
    """Read an openb node list. Raises :class:`InputError`."""
    with open_text(path, "node list") as handle:
        rows = CsvRows(handle, path, NODE_COLUMNS)
        out: list[TraceNode] = []
        for line, f in rows:
            model = rows.get(f, "model", line)
            out.append(TraceNode(
                name=rows.get(f, "sn", line),
                num_gpus=parse_int(rows.get(f, "gpu", line), path, line, "gpu"),
                gpu_model=None if is_missing(model) else model,
                num_cpus=parse_float(rows.get(f, "cpu_milli", line), path, line,
                                     "cpu_milli") / 1000.0,
                memory_bytes=parse_float(rows.get(f, "memory_mib", line), path, line,
                                         "memory_mib") * MIB,
            ))
        return out


def _read_pods(path: Path, duration_s: float | None) -> tuple[list[TraceRecord], dict[str, int]]:
    with open_text(path) as handle:
        rows = CsvRows(handle, path, RESOURCE_COLUMNS)
        timed = all(rows.has(c) for c in TIME_COLUMNS)
        if not timed:
            if any(rows.has(c) for c in TIME_COLUMNS):
                missing = [c for c in TIME_COLUMNS if not rows.has(c)]
                raise InputError(f"header lacks column(s) {', '.join(missing)}",
                                 where=f"{path}:1")
            if duration_s is None:
                raise InputError(
                    f"pod list has no time columns ({', '.join(TIME_COLUMNS)}); give the "
                    "option duration_s (run time of every pod)", where=f"{path}:1")
        records: list[TraceRecord] = []
        no_gpu = 0
        for line, f in rows:
            num_gpu = parse_int(rows.get(f, "num_gpu", line), path, line, "num_gpu")
            gpu_milli = parse_int(rows.get(f, "gpu_milli", line), path, line, "gpu_milli")
            if num_gpu == 0:
                no_gpu += 1
                continue
            if not 0 < gpu_milli <= 1000:
                raise bad(path, line, "gpu_milli", "1..1000 for a GPU pod", str(gpu_milli))
            rec = TraceRecord(
                line=line, submit_s=0.0, duration_s=duration_s or 0.0, num_gpus=num_gpu,
                tenant="openb", gpu_milli=gpu_milli,
                num_cpus=parse_float(rows.get(f, "cpu_milli", line), path, line,
                                     "cpu_milli") / 1000.0,
                memory_bytes=parse_float(rows.get(f, "memory_mib", line), path, line,
                                         "memory_mib") * MIB,
            )
            if timed:
                _fill_times(rec, rows, f, line)
            records.append(rec)
        return records, {"no GPU": no_gpu}


def _fill_times(rec: TraceRecord, rows: CsvRows, f: list[str], line: int) -> None:
    path = rows.path
    created = parse_float(rows.get(f, "creation_time", line), path, line, "creation_time")
    deleted = parse_float(rows.get(f, "deletion_time", line), path, line, "deletion_time")
    text = rows.get(f, "scheduled_time", line)
    scheduled = None if is_missing(text) else parse_float(text, path, line, "scheduled_time")
    begin = created if scheduled is None else scheduled
    if deleted < begin:
        raise bad(path, line, "deletion_time", f"a time >= {begin:g} (scheduled/creation)",
                  rows.get(f, "deletion_time", line))
    rec.submit_s = created
    rec.duration_s = deleted - begin
    rec.wait_s = None if scheduled is None else max(0.0, scheduled - created)
    spec = rows.get(f, "gpu_spec", line) if rows.has("gpu_spec") else ""
    rec.gpu_type = None if is_missing(spec) else spec
    qos = rows.get(f, "qos", line) if rows.has("qos") else ""
    rec.qos = qos or None
    rec.tenant = qos or "openb"
    phase = rows.get(f, "pod_phase", line) if rows.has("pod_phase") else ""
    rec.status = phase or None
