"""Fit an engine profile's GEMM multipliers to published offline throughput, with hold-out.

Run: ``python bench/fit_engines.py [ENGINE] [--json]`` (default trtllm). Replays every row
of ``src/gputwin/perf/engine_benchmarks.yaml`` for the engine through the serving simulator
at each grid value (0.80-1.25) of ``kernels.gemm_eff_mult[dtype]``, picks the best per
dtype (mean squared log error) and reports fit and 5-fold hold-out errors. Copy the printed
multipliers into ``src/gputwin/perf/engines.yaml`` (with the errors in their source).
"""

from __future__ import annotations

import json
import sys
import time

from gputwin.run.fit_engines import fit_engine, fit_report, load_rows


def main(argv: list[str]) -> None:
    engine = next((a for a in argv if not a.startswith("--")), "trtllm")
    rows = load_rows(engine)
    t0 = time.perf_counter()
    fit = fit_engine(engine, rows, progress=lambda s: print(f"  {s}", file=sys.stderr))
    wall = time.perf_counter() - t0
    if "--json" in argv:
        print(json.dumps({**fit_report(fit), "wall_s": wall}, indent=2))
        return
    for label, err in fit.errors.items():
        print(f"{label:55s} {err:+7.1%}")
    print(f"{engine}: gemm_eff_mult {fit.multipliers}; {len(rows)} rows; fit median "
          f"{fit.fit_median_abs_error:.1%}, worst {fit.fit_max_abs_error:.1%}; 5-fold "
          f"hold-out median {fit.holdout_median_abs_error:.1%}, worst "
          f"{fit.holdout_max_abs_error:.1%} ({wall:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
