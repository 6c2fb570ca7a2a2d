"""Registry of trace formats: ``read_trace(format, path, **options) -> TraceWorkload``.

Format names: ``philly_csv``, ``philly_json``, ``openb``, ``pai2020``, ``helios``, ``swf``
(:data:`FORMATS`). Options are plain values as they come from YAML or ``--set`` (numbers,
strings such as ``"2d"`` for durations, comma-separated strings or lists); they are checked
and converted here, and an unknown format or option is an :class:`UnknownNameError` that
suggests close names. Options every format takes (:data:`COMMON_OPTIONS`): ``model``,
``kind``, ``id_prefix``, ``statuses``, ``start``, ``end``, ``min_gpus``, ``max_gpus``,
``max_jobs`` (see :class:`Selection`); the format-specific ones are listed in
:data:`FORMATS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gputwin.errors import InputError, UnknownNameError
from gputwin.units import parse_duration
from gputwin.workload import philly_csv
from gputwin.workload.helios import read_helios
from gputwin.workload.openb import read_openb
from gputwin.workload.pai2020 import read_pai2020
from gputwin.workload.philly_json import read_philly_json
from gputwin.workload.swf import read_swf
from gputwin.workload.trace_common import Selection, TraceRecord, TraceWorkload, build_workload

Reader = Callable[[Path, Selection, dict[str, Any]], TraceWorkload]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option: ``kind`` is str, int, float, bool, duration, path, str_list or choice."""

    name: str
    kind: str
    help: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TraceFormat:
    """A registered format: its reader and its own options."""

    name: str
    description: str
    reader: Reader
    options: tuple[OptionSpec, ...]


COMMON_OPTIONS = (
    OptionSpec("model", "str", "catalog model to label the jobs with (default 'unknown')"),
    OptionSpec("kind", "str", "job kind label (default 'trace')"),
    OptionSpec("id_prefix", "str", "job ids are '<id_prefix>-00001'... (default: format)"),
    OptionSpec("statuses", "str_list", "keep only jobs with these trace statuses"),
    OptionSpec("start", "duration", "keep jobs submitted at or after this time after the "
                                    "trace's first job"),
    OptionSpec("end", "duration", "keep jobs submitted before this time after the first job"),
    OptionSpec("min_gpus", "int", "drop jobs asking for fewer GPUs"),
    OptionSpec("max_gpus", "int", "drop jobs asking for more GPUs"),
    OptionSpec("max_jobs", "int", "keep the earliest N jobs after filtering"),
)


def _philly_csv(path: Path, sel: Selection, opts: dict[str, Any]) -> TraceWorkload:
    # One parser per format: reuse philly_csv's row parser (same errors as read_philly_csv).
    cluster = opts.get("cluster")
    epoch = datetime(1970, 1, 1)
    records = [
        TraceRecord(line=row.line, submit_s=(row.submit - epoch).total_seconds(),
                    duration_s=row.duration_s, num_gpus=row.num_gpus, tenant=row.cluster,
                    queue=row.cluster)
        for row in philly_csv._read_rows(path) if cluster is None or row.cluster == cluster
    ]
    return build_workload("philly_csv", path, records, sel, clock_s_of_day_offset=0.0)


FORMATS: dict[str, TraceFormat] = {
    f.name: f for f in (
        TraceFormat("philly_csv", "Philly-derived CSV (AdaptDL): timestamp,duration,num_gpus,"
                    "gpu_time,cluster", _philly_csv,
                    (OptionSpec("cluster", "str", "keep one virtual cluster"),)),
        TraceFormat("philly_json", "Microsoft Philly raw cluster_job_log (JSON)",
                    lambda p, s, o: read_philly_json(p, cluster=o.get("cluster"), selection=s),
                    (OptionSpec("cluster", "str", "keep one virtual cluster (vc)"),)),
        TraceFormat("openb", "Alibaba GPU 2023 openb pod list (+ node list)",
                    lambda p, s, o: read_openb(p, node_list=o.get("node_list"),
                                               nodes=o.get("nodes", True),
                                               duration_s=o.get("duration"), selection=s),
                    (OptionSpec("node_list", "path", "node list CSV (default: "
                                "openb_node_list_gpu_node.csv beside the pod list)"),
                     OptionSpec("nodes", "bool", "read the node list (default true)"),
                     OptionSpec("duration", "duration", "run time of every pod, for pod lists "
                                "without time columns"))),
        TraceFormat("pai2020", "Alibaba PAI 2020 pai_task_table (+ pai_job_table)",
                    lambda p, s, o: read_pai2020(p, job_table=o.get("job_table"), selection=s),
                    (OptionSpec("job_table", "path", "pai_job_table.csv (default: beside the "
                                "task table)"),)),
        TraceFormat("helios", "SenseTime Helios cluster_log.csv",
                    lambda p, s, o: read_helios(p, cluster=o.get("cluster"), selection=s),
                    (OptionSpec("cluster", "str", "keep one virtual cluster (vc)"),)),
        TraceFormat("swf", "Standard Workload Format (Parallel Workloads Archive)",
                    lambda p, s, o: read_swf(p, gpu_per_proc=o.get("gpu_per_proc", 1.0),
                                             procs=o.get("procs", "requested"), selection=s),
                    (OptionSpec("gpu_per_proc", "float", "GPUs per processor (default 1)"),
                     OptionSpec("procs", "choice", "processor count to use (default "
                                "requested)", ("requested", "allocated")))),
    )
}


def trace_formats() -> list[str]:
    """The registered format names."""
    return sorted(FORMATS)


def read_trace(format: str, path: Path | str, **options: Any) -> TraceWorkload:
    """Read the trace at ``path`` in ``format`` with ``options`` (see the module doc).

    Options whose value is ``None`` are ignored (unset), whatever their name. Raises
    :class:`UnknownNameError` for an unknown format/option and :class:`InputError` for a bad
    option value, a malformed file or a trace of no job (an empty file, a header only, or
    options that select none: a run or statistics of no job would look like a real one).
    """
    fmt = FORMATS.get(format)
    if fmt is None:
        raise UnknownNameError("trace format", format, list(FORMATS))
    specs = {o.name: o for o in (*COMMON_OPTIONS, *fmt.options)}
    values: dict[str, Any] = {}
    for name, raw in options.items():
        if raw is None:
            continue  # unset (so callers may pass e.g. cluster=None to any format)
        spec = specs.get(name)
        if spec is None:
            raise UnknownNameError(f"option of trace format {format!r}", name, list(specs))
        values[name] = _coerce(spec, raw)
    sel = Selection(
        model=values.pop("model", "unknown"), kind=values.pop("kind", "trace"),
        id_prefix=values.pop("id_prefix", format.split("_")[0]),
        statuses=values.pop("statuses", None), start_s=values.pop("start", None),
        end_s=values.pop("end", None), min_gpus=values.pop("min_gpus", None),
        max_gpus=values.pop("max_gpus", None), max_jobs=values.pop("max_jobs", None),
    )
    w = fmt.reader(Path(path), sel, values)
    if not w.jobs:
        why = ", ".join(f"{n:,} with {reason}" for reason, n in w.skipped.items() if n)
        raise InputError(f"the {format} trace holds no job (an empty trace, or options that "
                         "select none)" + (f"; rows skipped: {why}" if why else ""),
                         where=str(path))
    return w


def _coerce(spec: OptionSpec, raw: Any) -> Any:
    where = f"option {spec.name}"
    kind = spec.kind
    if kind == "duration":
        try:
            return parse_duration(raw)
        except InputError as exc:
            raise InputError(exc.detail, where=where) from None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false", "yes", "no"):
            return raw.lower() in ("true", "yes")
        raise InputError(f"expected true or false, got {raw!r}", where=where)
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise InputError(f"expected an integer >= 0, got {raw!r}", where=where)
        try:
            value = int(raw)
        except ValueError:
            raise InputError(f"expected an integer >= 0, got {raw!r}", where=where) from None
        if value < 0:
            raise InputError(f"expected an integer >= 0, got {raw!r}", where=where)
        return value
    if kind == "float":
        try:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        except (TypeError, ValueError):
            raise InputError(f"expected a number, got {raw!r}", where=where) from None
    if kind == "str_list":
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise InputError(f"expected a list of names, got {raw!r}", where=where)
        return tuple(i.strip() for i in items if i.strip())
    if not isinstance(raw, str | Path):
        raise InputError(f"expected a string, got {raw!r}", where=where)
    if kind == "path":
        return Path(raw)
    if kind == "choice" and raw not in spec.choices:
        raise UnknownNameError(f"value of option {spec.name}", str(raw), list(spec.choices))
    return str(raw)


def path_options(fmt: str, trace_path: str | Path,
                 options: Mapping[str, Any]) -> dict[str, str]:
    """The path-valued ``options`` of a ``fmt`` trace as the reader will open them: a
    relative one beside the trace when a file is there, else as given."""
    kinds = {o.name: o.kind for o in FORMATS[fmt].options} if fmt in FORMATS else {}
    out = {}
    for key, value in options.items():
        if kinds.get(key) == "path" and isinstance(value, str):
            beside = Path(trace_path).parent / value
            out[key] = (str(beside) if not Path(value).is_absolute() and beside.exists()
                        else value)
    return out


def describe_formats() -> Mapping[str, dict[str, str]]:
    """``{format: {option: help}}`` including the common options (for docs and the CLI)."""
    return {name: {o.name: o.help for o in (*fmt.options, *COMMON_OPTIONS)}
            for name, fmt in sorted(FORMATS.items())}
