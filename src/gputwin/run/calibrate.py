"""``gputwin calibrate``: fit the serving model's coefficients to measured times.

Two CSV layouts are accepted (header line required, extra columns ignored):

- step times: ``num_prefill_tokens, prefill_context_tokens_sum, prefill_attn_pairs,
  num_decode_seqs, decode_context_tokens_sum, step_time_s``;
- per request pattern: ``input_tokens, output_tokens, batch_size, ttft_s, tpot_s`` (either
  time may be empty): the TTFT is the mean over a batch arriving together, the TPOT a
  steady-state continuous-batching step (see ``run/estimate_serve``).

The result is written as a YAML calibration file usable with ``estimate serve
--calibration``; the per-GPU coefficients are stored under the accelerator's name.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError
from gputwin.perf.engines import default_engine, engine_profile
from gputwin.perf.serving import ServingConfig, ServingPerf, context_problem, prepare_serving
from gputwin.perf.serving_calib import ServingCalibration, load_serving_calibration
from gputwin.perf.serving_fit import (
    DEFAULT_FIT,
    FitResult,
    Observation,
    fit_with_holdout,
    measurements_needed,
)
from gputwin.perf.serving_load import StepLoad, prefill_batch_loads, steady_state_mix
from gputwin.perf.split import cli_flag
from gputwin.run.estimate_serve import _positive
from gputwin.textio import check_row_width, read_text, write_text_atomic
from gputwin.topology.hardware import resolve_hardware

STEP_COLUMNS = ("num_prefill_tokens", "prefill_context_tokens_sum", "prefill_attn_pairs",
                "num_decode_seqs", "decode_context_tokens_sum", "step_time_s")
REQUEST_COLUMNS = ("input_tokens", "output_tokens", "batch_size", "ttft_s", "tpot_s")


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """Fitted coefficients, errors, and the configuration they belong to."""

    fit: FitResult
    accelerator: str
    model: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        f = self.fit
        return {
            "accelerator": self.accelerator, "model": self.model, "measurements": self.source,
            "coefficients": dict(f.coefficients),
            "num_observations": f.num_observations, "num_folds": f.num_folds,
            "fit_median_abs_error": f.fit_median_abs_error,
            "fit_max_abs_error": f.fit_max_abs_error,
            "holdout_median_abs_error": f.holdout_median_abs_error,
            "holdout_max_abs_error": f.holdout_max_abs_error,
        }


def _number(row: dict[str, str], col: str, where: str, *, integer: bool = False,
            optional: bool = False) -> float | None:
    raw = (row.get(col) or "").strip()
    if raw == "" and optional:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"column {col!r}: expected a number, got {raw!r}", where=where) from None
    if not math.isfinite(value) or value < 0 or (integer and value != int(value)):
        kind = "a non-negative integer" if integer else "a non-negative number"
        raise InputError(f"column {col!r}: expected {kind}, got {raw!r}", where=where)
    return value


def _step_obs(row: dict[str, str], where: str) -> list[Observation]:
    vals = [_number(row, c, where, integer=c.startswith("num_")) for c in STEP_COLUMNS]
    p, pctx, pairs, d, dctx, t = (v or 0.0 for v in vals)
    if t <= 0 or p + d <= 0:
        raise InputError("a step needs tokens and a positive step_time_s", where=where)
    load = StepLoad(int(p), pctx, pairs, int(d), dctx)
    return [Observation(t, ((1.0, load),), where)]


def _request_obs(row: dict[str, str], where: str, chunk: int,
                 model: ModelSpec | None) -> list[Observation]:
    inp, out, batch = (int(_number(row, c, where, integer=True) or 0)
                       for c in REQUEST_COLUMNS[:3])
    if min(inp, out, batch) < 1:
        raise InputError("input_tokens, output_tokens and batch_size must be >= 1", where=where)
    too_long = None if model is None else context_problem(
        model, inp, out, names=("column input_tokens", "output_tokens"))
    if too_long is not None:
        raise InputError(too_long, where=where)
    obs = []
    ttft = _number(row, "ttft_s", where, optional=True)
    if ttft:
        loads, done_at = prefill_batch_loads(batch, inp, chunk)
        # mean TTFT = Σ_s t_s · (requests finishing at or after step s) / batch
        weights = [sum(1 for d in done_at if d >= s) / batch for s in range(len(loads))]
        obs.append(Observation(ttft, tuple(zip(weights, loads, strict=True)), where + " ttft"))
    tpot = _number(row, "tpot_s", where, optional=True)
    if tpot:
        mix = steady_state_mix(batch, inp, out, 1.0, chunk, batch - 1)
        obs.append(Observation(tpot, tuple((share, ld) for ld, share in mix),
                               where + " tpot"))
    if not obs:
        raise InputError("needs ttft_s or tpot_s", where=where)
    return obs


@dataclass(frozen=True, slots=True)
class Measurements:
    """The measured times of one CSV, and the rows (``kind``: step or request) they came
    from (a request row gives one per ``ttft_s`` and ``tpot_s`` value)."""

    observations: list[Observation]
    rows: int
    kind: str


def read_measurements(path: Path, chunk_tokens: int = 8192,
                      model: ModelSpec | None = None) -> Measurements:
    """Parse a measurements CSV; raises :class:`InputError` with the file and line (a
    request row beyond ``model``'s context too)."""
    text = read_text(path)
    reader = csv.DictReader(text.splitlines())
    cols = {c.strip() for c in (reader.fieldnames or [])}
    if set(STEP_COLUMNS) <= cols:
        kind = "step"
    elif set(REQUEST_COLUMNS[:3]) <= cols and cols & {"ttft_s", "tpot_s"}:
        kind = "request"
    else:
        raise InputError(f"header must name the step columns ({', '.join(STEP_COLUMNS)}) or "
                         f"the request columns ({', '.join(REQUEST_COLUMNS)})",
                         where=f"{path}:1")
    obs: list[Observation] = []
    rows = 0
    width = len(reader.fieldnames or [])
    for raw in reader:
        row = {k.strip(): v for k, v in raw.items() if k is not None}
        if not any((v or "").strip() for v in row.values()):
            continue
        # the reader's own line count: it skips blank lines, which a row count would not
        where = f"{path}:{reader.line_num}"
        check_row_width([*(v or "" for v in row.values()), *(raw.get(None) or [])], width,
                        where)  # DictReader files values beyond the header under None
        rows += 1
        obs += _step_obs(row, where) if kind == "step" else _request_obs(
            row, where, chunk_tokens, model)
    if not obs:
        raise InputError("no measurements in the file", where=str(path))
    return Measurements(obs, rows, kind)


def _check_enough(m: Measurements, fit: Sequence[str], path: Path) -> None:
    """Refuse too few rows for the fit, in rows of the file's kind."""
    need, got = measurements_needed(fit), len(m.observations)
    if got >= need:
        return
    rows = "row gives" if m.rows == 1 else "rows give"
    if m.kind == "step":
        ask = f"at least {need} rows of step times"
    else:
        ask = (f"at least {-(-need // 2)} request rows with both ttft_s and tpot_s "
               f"({need} with one of them)")
    raise InputError(f"{m.rows} {rows} {got} measured time(s); fitting {len(fit)} "
                     f"coefficients ({', '.join(fit)}) needs {ask}", where=str(path))


def calibrate(measurements: str | Path, *, model: str, gpu: str | None = None,
              system: str | None = None, tp: int = 1, pp: int = 1, ep: int = 1,
              weights: str = "bf16", kv_cache: str = "bf16",
              fit: Sequence[str] = DEFAULT_FIT, folds: int = 5,
              calibration: str | None = None, max_num_batched_tokens: int | None = None,
              catalog: Catalog | None = None) -> CalibrationReport:
    """Fit ``fit`` coefficients for one model/GPU/split to the measurements CSV
    (``max_num_batched_tokens`` None: vLLM's default on the part, as estimate serve's)."""
    for option, value in (("tp", tp), ("pp", pp), ("ep", ep), ("folds", folds)):
        _positive(option, value)
    cat = catalog or default_catalog()
    spec = cat.model(model, where="--model")
    hw = resolve_hardware(cat, gpu=gpu, system=system, where=cli_flag)
    if max_num_batched_tokens is None:
        max_num_batched_tokens = engine_profile(default_engine()).limits_for(
            hw.accelerator)[1]
    config = ServingConfig(spec, hw, tp=tp, pp=pp, ep=ep, weights_dtype=weights,
                           kv_cache_dtype=kv_cache,
                           max_num_batched_tokens=max_num_batched_tokens)
    base = load_serving_calibration(calibration)
    prepare_serving(config, base)  # validate the split before reading data

    def make(cal: ServingCalibration) -> ServingPerf:
        return prepare_serving(config, cal)

    data = read_measurements(Path(measurements), max_num_batched_tokens, spec)
    _check_enough(data, fit, Path(measurements))
    result = fit_with_holdout(data.observations, make, base, hw.accelerator.name, tuple(fit),
                              folds)
    return CalibrationReport(result, hw.accelerator.name, spec.name, str(measurements))


def write_calibration(report: CalibrationReport, out: str | Path) -> None:
    """Write the fitted calibration as YAML, atomically (no half-written file), through a
    symlink to its target; a folder, FIFO or device at ``out`` is refused
    (:func:`gputwin.textio.write_text_atomic`)."""
    data = report.fit.calibration.as_mapping()
    data["source"] = (f"gputwin calibrate: {report.model} on {report.accelerator}, fitted to "
                      f"{report.source}")
    data["fit"] = {k: v for k, v in report.to_dict().items() if k != "coefficients"}
    text = yaml.safe_dump(data, sort_keys=False)
    write_text_atomic(out, text, where=f"--out {out}")
