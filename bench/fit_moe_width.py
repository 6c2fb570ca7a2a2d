"""Fit the serving calibration's ``moe_width_half`` to published MoE offline throughput.

Run: ``python bench/fit_moe_width.py [--json]``. Replays the ``moe_tables`` rows of
``src/gputwin/perf/engine_benchmarks.yaml`` (TensorRT-LLM Performance Overview 1.2: DeepSeek-R1,
gpt-oss, Llama 4 Maverick, Qwen3 MoE on H100/H200/B200/GB200) through ``simulate serve`` for
each grid value of ``moe_width_half`` (2,000-8,000), picks the value with the least mean
squared log error on the rows that are not validation cases, and reports the error of every
row, the leave-one-model-out hold-out (each model's rows predicted by the value fitted on
the other models) and the validation rows' error. Copy the value into
``src/gputwin/perf/serving_calibration.yaml`` with the errors in its source. Takes about a
minute per grid value on one core.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from gputwin.perf import serving_calib
from gputwin.run.fit_engines import BENCHMARKS_PATH, benchmark_requests
from gputwin.run.validate_serve import simulate_case
from gputwin.yaml_io import load_yaml_with_lines

GRID = (2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0)
Row = tuple[str, str, int, int, int, str, int, int, float]


def load_moe_rows(path: Path = BENCHMARKS_PATH) -> tuple[list[Row], set[tuple[Any, ...]]]:
    data, _ = load_yaml_with_lines(path)
    rows: list[Row] = []
    held: set[tuple[Any, ...]] = set()
    for table in data.get("moe_tables", []):
        held |= {tuple(h) for h in table.get("held_out", [])}
        for r in table["rows"]:
            m, g, tp, ep, dp, w, i, o, pub = r
            rows.append((str(m), str(g), int(tp), int(ep), int(dp), str(w), int(i), int(o),
                         float(pub)))
    return rows, held


def predict(row: Row) -> float:
    m, g, tp, ep, dp, w, i, o, _ = row
    inputs: dict[str, Any] = {"model": m, "gpu": g, "tp": tp, "weights": w, "engine": "trtllm",
                              "offline": {"num_requests": benchmark_requests(i, o),
                                          "input_tokens": i, "output_tokens": o}}
    if ep > 1:
        inputs["ep"] = ep
    if dp > 1:
        inputs["dp_attention"] = dp
    return simulate_case(**inputs).metrics["output_tokens_per_s_per_gpu"]


def _with_width_half(value: float) -> None:
    base = serving_calib.default_serving_calibration()
    patched = dataclasses.replace(base, moe_width_half=value)
    serving_calib.default_serving_calibration = lambda: patched  # type: ignore[assignment]
    import gputwin.perf.serving as serving_mod
    serving_mod.default_serving_calibration = serving_calib.default_serving_calibration


def _loss(errs: list[float]) -> float:
    return sum(math.log1p(e) ** 2 for e in errs)


def main(argv: list[str]) -> None:
    rows, held = load_moe_rows()
    original = serving_calib.default_serving_calibration
    t0 = time.perf_counter()
    table: dict[float, list[float]] = {}
    for v in GRID:
        _with_width_half(v)
        table[v] = [predict(r) / r[8] - 1.0 for r in rows]
        print(f"  moe_width_half {v:.0f}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    serving_calib.default_serving_calibration = original  # type: ignore[assignment]
    import gputwin.perf.serving as serving_mod
    serving_mod.default_serving_calibration = original
    is_val = [(r[0], r[1], r[6], r[7]) in held for r in rows]
    fit_idx = [k for k, val in enumerate(is_val) if not val]
    best = min(GRID, key=lambda v: _loss([table[v][k] for k in fit_idx]))
    holdout: list[float] = []
    for model in sorted({r[0] for r in rows}):
        train = [k for k in fit_idx if rows[k][0] != model]
        v = min(GRID, key=lambda g: _loss([table[g][k] for k in train]))
        holdout += [table[v][k] for k, r in enumerate(rows) if r[0] == model]

    def summary(errs: list[float]) -> dict[str, float]:
        a = [abs(e) for e in errs]
        return {"n": len(a), "median_abs": statistics.median(a), "max_abs": max(a)}

    blackwell = [table[best][k] for k, r in enumerate(rows) if r[1] in ("b200", "gb200")]
    report = {
        "moe_width_half": best, "fit": summary([table[best][k] for k in fit_idx]),
        "leave_one_model_out": summary(holdout),
        "validation_rows": summary([table[best][k] for k, v in enumerate(is_val) if v]),
        "blackwell_rows": summary(blackwell), "all_rows": summary(table[best]),
        "rows": [{"row": list(r), "error": table[best][k]} for k, r in enumerate(rows)],
        "wall_s": time.perf_counter() - t0,
    }
    if "--json" in argv:
        print(json.dumps(report, indent=2))
        return
    for item in report["rows"]:
        m, g, tp, ep, dp, w, i, o, _pub = item["row"]
        print(f"{m:16s} {g:15s} tp{tp} ep{ep} dp{dp} {w} {i}/{o}: {item['error']:+7.1%}")
    for key in ("fit", "leave_one_model_out", "validation_rows", "blackwell_rows", "all_rows"):
        s = report[key]
        print(f"{key}: n {s['n']}, median {s['median_abs']:.1%}, worst {s['max_abs']:.1%}")
    print(f"moe_width_half = {best:.0f} ({report['wall_s']:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
