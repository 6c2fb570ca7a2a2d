"""Fit the SGLang profile's host time per step to published low-concurrency decode times.

Run: ``python bench/fit_sglang_host.py [--json]``. Replays every SGLang case of the
validation suite (``src/gputwin/validation/cases/serving_sglang.yaml`` and the SGLang
cases of ``serving_simulated.yaml``) through ``simulate serve`` at each grid value of
``engines.sglang.host.step_overhead_s`` (0.4-2.4 ms), picks the value with the least mean
squared log error over the cases marked ``calibration: true`` and reports every case's
error there, the fit and hold-out medians, and the leave-one-out error of the calibration
cases (each predicted by the value fitted on the others). Copy the value into
``src/gputwin/perf/engines.yaml`` with the errors in its source. Takes about a minute.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gputwin.run.fit_engines import best_grid_value, error_summary, summary_line
from gputwin.run.validate_serve import simulate_case
from gputwin.yaml_io import load_yaml_with_lines

CASES = Path(__file__).resolve().parents[1] / "src" / "gputwin" / "validation" / "cases"
FILES = ("serving_sglang.yaml", "serving_simulated.yaml")
GRID = tuple(round(0.0004 + 0.0002 * i, 4) for i in range(11))  # 0.4 … 2.4 ms


def sglang_cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in FILES:
        data, _ = load_yaml_with_lines(CASES / name)
        out += [c for c in data["cases"] if c["inputs"].get("engine") == "sglang"]
    return out


@contextmanager
def _step_overhead(value: float) -> Iterator[None]:
    """Run with the SGLang profile's host time per step set to ``value``."""
    import gputwin.perf.serving as serving_mod  # the step model reads its calibration there
    namespace = vars(serving_mod)
    original = namespace["default_serving_calibration"]
    base = original()
    engines = {k: dict(v) for k, v in base.engines.items()}
    engines["sglang"] = {**engines.get("sglang", {}), "step_overhead_s": value}
    patched = dataclasses.replace(base, engines=engines)
    namespace["default_serving_calibration"] = lambda: patched
    try:
        yield
    finally:
        namespace["default_serving_calibration"] = original


def _errors(cases: Sequence[dict[str, Any]]) -> list[float]:
    return [simulate_case(**c["inputs"]).metrics[c["metric"]] / c["published"] - 1.0
            for c in cases]


def main(argv: list[str]) -> None:
    cases = sglang_cases()
    t0 = time.perf_counter()
    table: dict[float, list[float]] = {}
    for v in GRID:
        with _step_overhead(v):
            table[v] = _errors(cases)
        print(f"  step_overhead_s {v:g}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    fit_idx = [k for k, c in enumerate(cases) if c.get("calibration")]
    best = best_grid_value(table, fit_idx)
    loo = [table[best_grid_value(table, [j for j in fit_idx if j != k])][k] for k in fit_idx]
    errs = table[best]
    report: dict[str, Any] = {
        "step_overhead_s": best,
        "fit": error_summary([errs[k] for k in fit_idx]),
        "leave_one_out": error_summary(loo),
        "hold_out": error_summary([e for k, e in enumerate(errs) if k not in fit_idx]),
        "cases": [{"id": c["id"], "calibration": bool(c.get("calibration")), "error": e}
                  for c, e in zip(cases, errs, strict=True)],
        "wall_s": time.perf_counter() - t0,
    }
    if "--json" in argv:
        print(json.dumps(report, indent=2))
        return
    for item in report["cases"]:
        mark = " *" if item["calibration"] else ""
        print(f"{item['id']:62s} {item['error']:+7.1%}{mark}")
    print("\n".join(summary_line(k, report[k]) for k in ("fit", "leave_one_out", "hold_out")))
    print(f"sglang step_overhead_s = {best:g} ({report['wall_s']:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
