"""Write a run's outputs (summary.json, jobs.csv, report.html) without half-written files.

The output-folder policy, shared by every command that writes a run:

* without ``--out``, each run gets a new folder ``gputwin-out/<command>-<YYYYmmdd-HHMMSS>``
  (:func:`new_run_dir`; ``-2``, ``-3``... when two runs start in the same second);
* ``--out DIR`` names the folder. A run folder holds the outputs of exactly one run: DIR
  must be new, empty, or an earlier gputwin run folder (it holds ``manifest.json``), which
  is replaced *as a whole*, so a serving run never leaves a cluster run's ``jobs.csv``
  beside its ``requests.csv``. A folder with other files is refused (nothing is deleted);
  so is ``--out ''``, and a path under a file ("not a directory");
* ``--out LINK``, a symlink to a folder, writes the run into the link's target (under the
  same rules); the link stays as it is, and nothing is left beside it.

Everything is rendered in memory and written into a temporary folder beside ``out_dir``
first, then renamed into place, so on any error the previous outputs stay intact and no
partial file is ever visible.

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
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

from gputwin.errors import InputError
from gputwin.run.results import JobRecord, SimulationResult

SUMMARY_FILE = "summary.json"
JOBS_FILE = "jobs.csv"
JOBS_PARQUET_FILE = "jobs.parquet"
REPORT_FILE = "report.html"
MANIFEST_FILE = "manifest.json"
#: Parent of the per-run folders made when no ``--out`` is given.
DEFAULT_OUT_ROOT = Path("gputwin-out")

#: What ``--outputs`` may name: the summary, the per-job / per-request table as Parquet
#: or CSV, and the HTML report.
OUTPUT_KINDS: tuple[str, ...] = ("summary", "csv", "parquet", "report")
#: A cluster run's files when ``--outputs`` is not given (jobs are few: CSV included).
DEFAULT_OUTPUTS: tuple[str, ...] = OUTPUT_KINDS
#: A serving run's files when ``--outputs`` is not given: per-request CSV only on request
#: (a million requests make ~160 MB of CSV; Parquet holds the same columns in ~1/5).
SERVING_DEFAULT_OUTPUTS: tuple[str, ...] = ("summary", "parquet", "report")

#: A file's content: text, bytes, or a function that writes it into an open binary file
#: (so that a large table is streamed to disk, not first rendered as one string).
FileContent = str | bytes | Callable[[IO[bytes]], None]

JOB_COLUMNS: tuple[str, ...] = (
    "job_id", "kind", "model", "tenant", "num_gpus", "status", "reason", "submit_time_s",
    "start_time_s", "end_time_s", "wait_time_s", "run_time_s", "jct_s", "num_nodes",
    "num_leaves", "step_time_s", "num_steps", "tokens", "mfu", "energy_j",
    "co2e_g", "cost_usd", "water_l",
)


def summary_json(result: SimulationResult, timing: bool = True) -> str:
    """The summary as pretty JSON (non-finite floats become ``null``); ``timing=False``
    leaves out the wall-clock fields (:func:`without_timing`)."""
    summary = result.summary if timing else without_timing(result.summary)
    return json.dumps(json_safe(summary), indent=2) + "\n"


def is_wall_clock(key: str) -> bool:
    """A field measured on the wall clock (``wall_time_s``, ``requests_per_wall_s``)."""
    return "wall" in key


def without_timing(value: Any) -> Any:
    """``value`` with every wall-clock field (at any depth) left out, so that two runs with
    the same seed give byte-identical summaries (``--no-timing``)."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items()
                if not (isinstance(k, str) and is_wall_clock(k))}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def new_run_dir(command: str, root: Path = DEFAULT_OUT_ROOT,
                now_s: float | None = None) -> Path:
    """A folder for one run that does not exist yet: ``root/<command>-<YYYYmmdd-HHMMSS>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now_s))
    base = f"{command.replace(' ', '-')}-{stamp}"
    candidate, n = root / base, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}-{n}"
    return candidate


def manifest_json(command: str, names: list[str]) -> str:
    """What marks a gputwin run folder: the command and the files it wrote."""
    return json.dumps({"command": command, "files": sorted(names)}, indent=2) + "\n"


def parse_outputs(text: str | None, default: Collection[str], as_json: bool
                  ) -> frozenset[str]:
    """The files ``--outputs`` asks for: a comma list of :data:`OUTPUT_KINDS` (``all``:
    every one; ``none``: no run folder). Without the option: ``default``, or only
    ``summary`` under ``--json`` (it writes what it prints). Raises :class:`InputError`."""
    if text is None:
        return frozenset({"summary"} if as_json else default)
    names = {n.strip().lower() for n in text.split(",") if n.strip()}
    if names == {"all"}:
        return frozenset(OUTPUT_KINDS)
    if names == {"none"}:
        return frozenset()
    bad = sorted(names - set(OUTPUT_KINDS))
    if bad or not names:
        raise InputError(f"expected a comma list of {', '.join(OUTPUT_KINDS)} (or all, "
                         f"none), got {text!r}", where="--outputs")
    return frozenset(names)


def table_parquet_writer(table: pa.Table) -> Callable[[IO[bytes]], None]:
    """Writes ``table`` as Parquet into an open binary file."""
    def write(fh: IO[bytes]) -> None:
        import pyarrow.parquet as pq

        pq.write_table(table, fh)
    return write


def table_csv_writer(table: pa.Table) -> Callable[[IO[bytes]], None]:
    """Writes ``table`` as CSV into an open binary file by pyarrow's C++ writer (no Python
    loop per row): a header row, an empty cell for a null, and text quoted only when the
    table holds a comma, quote or line break (as :mod:`csv` does)."""
    def write(fh: IO[bytes]) -> None:
        import pyarrow.csv as pacsv

        header = ",".join(_csv_text(n) for n in table.column_names) + "\n"
        fh.write(header.encode("utf-8"))
        style = "needed" if _has_special_text(table) else "none"
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False,
                                                      quoting_style=style))
    return write


def _csv_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def _has_special_text(table: pa.Table) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    for col in table.columns:
        if pa.types.is_string(col.type) and len(col) and pc.any(
                pc.match_substring_regex(col, '[,"\r\n]')).as_py():
            return True
    return False


def table_parquet(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A table as Parquet bytes (column types inferred; missing values are nulls), for
    tools that read results as columns (pandas, polars, DuckDB)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data: list[list[Any]] = [[] for _ in columns]
    for row in rows:
        for values, value in zip(data, row, strict=True):
            values.append(value)
    table = pa.table({name: pa.array(_nulls_for_blanks(values))
                      for name, values in zip(columns, data, strict=True)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def _nulls_for_blanks(values: list[Any]) -> list[Any]:
    """A numeric column may mark a missing value with ``""`` (the CSV convention): null."""
    if any(v is not None and not isinstance(v, str) for v in values):
        return [None if v == "" else v for v in values]
    return values


def jobs_parquet(jobs: list[JobRecord]) -> bytes:
    """The rows of jobs.csv as Parquet (typed columns, nulls for missing values)."""
    return table_parquet(JOB_COLUMNS, ([job.to_row().get(c) for c in JOB_COLUMNS]
                                       for job in jobs))


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
    *,
    command: str = "simulate",
    timing: bool = True,
    outputs: Collection[str] = DEFAULT_OUTPUTS,
) -> dict[str, Path]:
    """Write summary.json, jobs.csv, jobs.parquet and (given a renderer) report.html, or
    those of them that ``outputs`` names (:data:`OUTPUT_KINDS`); returns their paths.

    ``render_html`` is :func:`gputwin.report.html.render_report` in the CLI; it is a
    parameter because ``run/`` may not import the report layer. ``None`` skips the report.

    Raises :class:`InputError` if ``out_dir`` exists and is not a folder, or cannot be
    written.
    """
    contents: dict[str, FileContent] = {}
    if "summary" in outputs:
        contents[SUMMARY_FILE] = summary_json(result, timing)
    if "csv" in outputs:
        contents[JOBS_FILE] = jobs_csv(result.jobs)
    if "parquet" in outputs:
        contents[JOBS_PARQUET_FILE] = jobs_parquet(result.jobs)
    if result.serving is not None:  # a shared fleet: its requests too
        from gputwin.run.serving_outputs import serving_tables

        contents.update(serving_tables(result.serving, outputs))
    if render_html is not None and "report" in outputs:
        contents[REPORT_FILE] = render_html(result)
    return write_files(contents, out_dir, command)


def resolve_out_dir(out_dir: Path, where: str) -> Path:
    """``out_dir`` with every symlink followed: a link to a folder names that folder."""
    try:
        return Path(out_dir).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before 3.13)
        raise InputError(f"cannot follow the path: {getattr(exc, 'strerror', None) or exc}",
                         where=where) from None


def make_folder(folder: Path, where: str) -> None:
    """``mkdir -p folder``; a file in the way is reported as "not a directory", naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents)
                        if os.path.lexists(p) and not p.is_dir()), folder)
        raise InputError(f"cannot create output folder: {blocker} is not a directory",
                         where=where) from None
    except OSError as exc:
        raise InputError(f"cannot create output folder: {exc.strerror}", where=where) from None


def check_out_folder(out_dir: Path, where: str, own_files: Collection[str] | None = None) -> None:
    """Refuse a folder that is not new, empty or an earlier gputwin run folder (it holds
    ``manifest.json``). With ``own_files`` (a command that keeps files of its own, such as
    ``plan serve``'s resumable store), the folder may hold only those files instead."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError("exists and is not a folder", where=where)
    entries = sorted(p.name for p in out_dir.iterdir())
    if own_files is None:
        if not entries or MANIFEST_FILE in entries:
            return
        why = f"not written by a gputwin run (no {MANIFEST_FILE})"
        hint = f"or leave out --out for a new run folder under {DEFAULT_OUT_ROOT}/"
    else:
        entries = [name for name in entries if name not in own_files]
        if not entries:
            return
        why = "not written by this command"
        hint = "or the folder of an earlier run of this command"
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise InputError(f"folder holds {len(entries)} file(s) {why}: {shown}; give a new or "
                     f"empty folder, {hint}", where=where)


def write_files(contents: Mapping[str, FileContent], out_dir: Path,
                command: str = "run") -> dict[str, Path]:
    """Write ``{file name: text, bytes or writer}`` (plus ``manifest.json``) as the folder
    ``out_dir``.

    Shared by every kind of run (training simulation, serving simulation, comparison); see
    the module docstring for the policy. Raises :class:`InputError` if ``out_dir`` is not a
    new, empty or earlier run folder, or cannot be written.
    """
    out_dir = Path(out_dir)
    where = str(out_dir)
    target = resolve_out_dir(out_dir, where)  # a symlink: the run goes into its target
    check_out_folder(target, where)
    contents = {**contents, MANIFEST_FILE: manifest_json(command, list(contents))}
    make_folder(target.parent, where)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the output folder is an ordinary one
    except OSError as exc:
        raise InputError(f"cannot create output folder: {exc.strerror}", where=where) from None
    try:
        for name, data in contents.items():
            if isinstance(data, bytes):
                (tmp / name).write_bytes(data)
            elif isinstance(data, str):
                (tmp / name).write_text(data, encoding="utf-8")
            else:
                with (tmp / name).open("wb") as fh:
                    data(fh)
        _swap_in(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write outputs: {exc.strerror}", where=where) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {name: out_dir / name for name in contents if name != MANIFEST_FILE}


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Rename ``tmp`` to ``out_dir`` (a real folder path, no symlink); an existing (empty or
    earlier run) folder is moved aside first and deleted after, so no file of the earlier
    run stays."""
    if not out_dir.exists():
        tmp.rename(out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=tmp.parent))
    old.rmdir()
    os.replace(out_dir, old)
    try:
        tmp.rename(out_dir)
    except OSError:
        os.replace(old, out_dir)  # put the earlier run back
        raise
    if old.is_symlink():  # only by a race: rmtree refuses links
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)


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
