"""Fit the MoE serving coefficients to published TensorRT-LLM MoE offline throughput.

Run: ``python bench/fit_moe_width.py [--json]``. Replays the ``moe_tables`` rows of
``src/gputwin/perf/engine_benchmarks.yaml`` (TensorRT-LLM Performance Overview 1.2: DeepSeek-R1,
gpt-oss, Llama 4 Maverick, Qwen3 MoE on H100/H200/B200/GB200) through ``simulate serve`` and
fits two coefficients, one after the other, each on the rows that are not held out:

1. TensorRT-LLM's weight-only GEMM efficiency (``kernels.gemm_eff_mult.weight_only`` in
   ``perf/engines.yaml``), on the rows whose weights run weight-only (gpt-oss's MXFP4 on
   Hopper, the Triton MoE kernels), grid 0.8-1.3;
2. the serving calibration's ``moe_width_half`` (``perf/serving_calibration.yaml``), on
   every row, grid 2,000-8,000.

It reports the error of every row, the leave-one-model-out hold-out of ``moe_width_half``
(each model's rows predicted by the value fitted on the other models), and the held-out
rows' error (the validation cases and the long 1024/32768 and 32768/1024 rows). Copy the
values into the two files with the errors in their sources. Takes about a minute.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving_rates import runs_weight_only
from gputwin.run.fit_engines import (
    BENCHMARKS_PATH,
    _gemm_mult,
    benchmark_requests,
    best_grid_value,
    error_summary,
    summary_line,
)
from gputwin.run.validate_serve import simulate_case
from gputwin.yaml_io import load_yaml_with_lines

WIDTH_GRID = (2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0)
WEIGHT_ONLY_GRID = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)


class Row(NamedTuple):
    model: str
    gpu: str
    tp: int
    ep: int
    dp: int
    weights: str
    input_tokens: int
    output_tokens: int
    published: float
    kv_cache: str | None
    held_out: bool

    @property
    def label(self) -> str:
        kv = f" kv {self.kv_cache}" if self.kv_cache else ""
        return (f"{self.model:16s} {self.gpu:15s} tp{self.tp} ep{self.ep} dp{self.dp} "
                f"{self.weights}{kv} {self.input_tokens}/{self.output_tokens}")


def load_moe_rows(path: Path = BENCHMARKS_PATH) -> list[Row]:
    data, _ = load_yaml_with_lines(path)
    rows: list[Row] = []
    for table in data.get("moe_tables", []):
        held = {tuple(h) for h in table.get("held_out", [])}
        held_lengths = {tuple(h) for h in table.get("held_out_lengths", [])}
        for r in table["rows"]:
            m, g, tp, ep, dp, w, i, o, pub = r[:9]
            rows.append(Row(str(m), str(g), int(tp), int(ep), int(dp), str(w), int(i), int(o),
                            float(pub), str(r[9]) if len(r) > 9 else None,
                            (m, g, i, o) in held or (i, o) in held_lengths))
    return rows


def predict(row: Row) -> float:
    inputs: dict[str, Any] = {
        "model": row.model, "gpu": row.gpu, "tp": row.tp, "weights": row.weights,
        "engine": "trtllm", "offline": {
            "num_requests": benchmark_requests(row.input_tokens, row.output_tokens),
            "input_tokens": row.input_tokens, "output_tokens": row.output_tokens}}
    if row.ep > 1:
        inputs["ep"] = row.ep
    if row.dp > 1:
        inputs["dp_attention"] = row.dp
    if row.kv_cache:
        inputs["kv_cache"] = row.kv_cache
    return simulate_case(**inputs).metrics["output_tokens_per_s_per_gpu"]


@contextmanager
def _width_half(value: float) -> Iterator[None]:
    """Run with the serving calibration's ``moe_width_half`` set to ``value``."""
    import gputwin.perf.serving as serving_mod  # the step model reads its calibration there
    namespace = vars(serving_mod)
    original = namespace["default_serving_calibration"]
    patched = dataclasses.replace(original(), moe_width_half=value)
    namespace["default_serving_calibration"] = lambda: patched
    try:
        yield
    finally:
        namespace["default_serving_calibration"] = original


def _errors(rows: Sequence[Row]) -> list[float]:
    return [predict(r) / r.published - 1.0 for r in rows]


def _grid(rows: Sequence[Row], grid: Sequence[float], apply: Callable[[float], Any],
          label: str, t0: float) -> dict[float, list[float]]:
    table: dict[float, list[float]] = {}
    for v in grid:
        with apply(v):
            table[v] = _errors(rows)
        print(f"  {label} {v:g}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return table


def main(argv: list[str]) -> None:
    rows = load_moe_rows()
    cat = default_catalog()
    weight_only = [runs_weight_only(cat.accelerator(r.gpu), r.weights) for r in rows]
    t0 = time.perf_counter()
    wo_rows = [r for r, w in zip(rows, weight_only, strict=True) if w]
    wo_table = _grid(wo_rows, WEIGHT_ONLY_GRID,
                     lambda v: _gemm_mult("trtllm", "weight_only", v), "weight_only", t0)
    wo_best = best_grid_value(wo_table, [k for k, r in enumerate(wo_rows) if not r.held_out])
    with _gemm_mult("trtllm", "weight_only", wo_best):
        table = _grid(rows, WIDTH_GRID, _width_half, "moe_width_half", t0)
    fit_idx = [k for k, r in enumerate(rows) if not r.held_out]
    best = best_grid_value(table, fit_idx)
    holdout: list[float] = []
    for model in sorted({r.model for r in rows}):
        v = best_grid_value(table, [k for k in fit_idx if rows[k].model != model])
        holdout += [table[v][k] for k in fit_idx if rows[k].model == model]
    errs = table[best]

    def pick(cond: Callable[[int], bool]) -> dict[str, float]:
        return error_summary([errs[k] for k in range(len(rows)) if cond(k)])

    report: dict[str, Any] = {
        "weight_only_gemm_mult": wo_best, "moe_width_half": best,
        "fit": pick(lambda k: not rows[k].held_out),
        "leave_one_model_out": error_summary(holdout),
        "held_out_rows": pick(lambda k: rows[k].held_out),
        "weight_only_rows": pick(lambda k: weight_only[k]),
        "blackwell_rows": pick(lambda k: rows[k].gpu in ("b200", "gb200")),
        "hopper_rows": pick(lambda k: rows[k].gpu not in ("b200", "gb200")),
        "all_rows": pick(lambda k: True),
        "rows": [{"row": r.label, "held_out": r.held_out, "error": e}
                 for r, e in zip(rows, errs, strict=True)],
        "wall_s": time.perf_counter() - t0,
    }
    if "--json" in argv:
        print(json.dumps(report, indent=2))
        return
    for item in report["rows"]:
        print(f"{item['row']}: {item['error']:+7.1%}{'  (held out)' if item['held_out'] else ''}")
    print("\n".join(summary_line(k, report[k]) for k in (
        "fit", "leave_one_model_out", "held_out_rows", "weight_only_rows", "blackwell_rows",
        "hopper_rows", "all_rows")))
    print(f"trtllm gemm_eff_mult.weight_only = {wo_best:g}, moe_width_half = {best:.0f} "
          f"({report['wall_s']:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
