"""Resumable planner results: one row per confirmed deployment in ``candidates.parquet``.

Rows carry a ``fingerprint`` of everything that decides a confirmation's outcome (model,
traffic, SLOs, seed, prices, gputwin version); a rerun with the same fingerprint reuses
its rows and simulates only the rest. Rows of other fingerprints are kept untouched.
Writes are atomic (a temporary file renamed into place).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gputwin import __version__
from gputwin.errors import InputError
from gputwin.requests import ServePlanRequest
from gputwin.run.outputs import REPORT_FILE, check_out_folder, make_folder, resolve_out_dir

FILE_NAME = "candidates.parquet"
#: What ``plan serve --out DIR`` writes: the store, its temporary file while saving, and
#: the HTML report (the CLI writes it).
OWN_FILES = frozenset({FILE_NAME, f"{FILE_NAME}.tmp", REPORT_FILE})
#: request fields that change what a confirming simulation measures or costs
_OUTCOME_FIELDS = ("model", "model_overrides", "rate", "trace", "trace_format",
                   "trace_model", "trace_log_type", "max_requests", "speedup",
                   "input_tokens", "output_tokens", "ttft_slo", "tpot_slo", "e2e_slo",
                   "percentile", "num_requests", "seed", "provider", "pricing")


#: bumped when a row's keys or meaning change (2: goodput_steady_rps, one owned-cost rule)
_ROW_SCHEMA = 2


def fingerprint(request: ServePlanRequest,
                usd_per_gpu_s: Mapping[str, float] | None = None) -> str:
    """A short stable hash of the outcome-deciding fields of ``request``, the rates its
    fleets are priced at (a price book edit or a new cost rule must not reuse rows costed
    at the old rates) and the row schema."""
    data = request.model_dump(include=set(_OUTCOME_FIELDS), mode="json")
    data["usd_per_gpu_s"] = {k: float(v) for k, v in sorted((usd_per_gpu_s or {}).items())}
    data["row_schema"] = _ROW_SCHEMA
    if request.trace is not None:  # the trace's content, not only its name
        path = Path(request.trace)
        if path.is_file():
            data["trace_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    data["gputwin"] = __version__
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CandidateStore:
    """``DIR/candidates.parquet`` (created on first save)."""

    def __init__(self, out_dir: Path) -> None:
        self.given = Path(out_dir)
        self.path = self.given / FILE_NAME
        self._other: list[dict[str, Any]] = []

    def prepare(self) -> None:
        """Create the folder now, so that an unusable ``--out`` is refused before the
        search runs (:class:`InputError`), not after it. Like a run folder
        (:mod:`gputwin.run.outputs`), it must be new, empty, or hold only the planner's own
        files (:data:`OWN_FILES`: an earlier plan, which is resumed)."""
        where = f"--out {self.given}"
        check_out_folder(resolve_out_dir(self.given, where), where, own_files=OWN_FILES)
        make_folder(self.path.parent, where)

    def load(self, fp: str) -> dict[str, dict[str, Any]]:
        """Rows of fingerprint ``fp`` by key (``{}`` when there is no file yet)."""
        if not self.path.is_file():
            return {}
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(self.path)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {self.path}: {exc}", where="--out") from None
        if not {"key", "fingerprint"} <= set(table.column_names):
            raise InputError(f"{self.path} was not written by `gputwin plan serve` (no key "
                             "and fingerprint columns); give a new or empty folder",
                             where="--out")
        rows = table.to_pylist()
        self._other = [r for r in rows if r.get("fingerprint") != fp]
        return {r["key"]: r for r in rows if r.get("fingerprint") == fp}

    def save(self, fp: str, rows: list[dict[str, Any]]) -> None:
        """Write the kept rows of other fingerprints and ``rows`` (last one per key wins)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        mine = {r["key"]: r for r in rows if r.get("fingerprint") == fp}
        table = pa.Table.from_pylist([*self._other, *mine.values()])
        self.prepare()
        tmp = self.path.with_suffix(".parquet.tmp")
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise InputError(f"cannot write {self.path}: {exc.strerror or exc}",
                             where="--out") from None
