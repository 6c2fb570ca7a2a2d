"""Speed of the serving planner (``gputwin plan serve``): candidates per second.

Run: ``python bench/bench_plan_serve.py [--repeats=N] [--ray]`` (default 3). The issue's
case — Llama 3 70B at 20 req/s, 2,000 in / 200 out tokens, TTFT 2 s, TPOT 100 ms (p99),
every priced accelerator — with exactly 32 confirming simulations (1,200 requests each):

- analytic: replica shapes and deployments the bounds/estimate walk per second;
- confirmed: simulations per second serially, on the local process pool (all CPUs), and
  with ``--ray`` on a local Ray (started once, outside the timing).
Prints medians, the CPU seconds of this process (all of the work when serial) and the
load average (the machine may be shared).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from typing import Any

from gputwin.requests import ServePlanRequest
from gputwin.run.plan_serve import plan_serve

REQUEST = ServePlanRequest(model="llama3-70b", rate=20, input_tokens=2000, output_tokens=200,
                           ttft_slo=2.0, tpot_slo=0.1, top=1000, finalists=32,
                           max_simulations=32)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _run(repeats: int, **kwargs: Any) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        start, cpu0 = time.perf_counter(), time.process_time()
        plan = plan_serve(REQUEST, **kwargs)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        confirm = wall - plan.search_wall_s
        runs.append({"wall": wall, "search": plan.search_wall_s, "sims": plan.num_simulated,
                     "shapes": plan.search.num_shapes, "cpu": cpu,
                     "confirm_per_s": plan.num_simulated / confirm,
                     "overall_per_s": plan.num_simulated / wall})
    return {k: _median(runs, k) for k in runs[0]}


def main(repeats: int, ray: bool) -> None:
    cpus = len(os.sched_getaffinity(0))
    print(f"python {platform.python_version()} on {platform.machine()}, {cpus} CPUs, "
          f"median of {repeats}")
    engines: dict[str, dict[str, Any]] = {"serial": {"workers": 1},
                                          f"pool ({cpus} workers)": {}}
    if ray:
        import ray as ray_mod

        ray_mod.init(include_dashboard=False, log_to_driver=False)
        engines["local Ray"] = {"ray_address": "local"}
    for name, kwargs in engines.items():
        r = _run(repeats, **kwargs)
        print(f"{name:22s} search {r['search']:.2f} s ({r['shapes'] / r['search']:,.0f} "
              f"shapes/s)  {r['sims']:.0f} sims in {r['wall'] - r['search']:.2f} s: "
              f"{r['confirm_per_s']:.1f} confirmed/s ({r['overall_per_s']:.1f}/s overall); "
              f"this process {r['cpu']:.2f} CPU s")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a.startswith("--repeats=")]
    main(int(args[0].split("=")[1]) if args else 3, "--ray" in sys.argv)
