"""Wall time of the bundled scenarios (median of several runs).

Run: ``python bench/bench_simulate.py [scenario ...]`` (default: ``default``). Measures
``load_scenario`` + ``simulate`` (not the output files) in one warm process.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time

from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

REPEATS = 5


def bench(name: str) -> None:
    times = []
    result = None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = simulate(load_scenario(name))
        times.append(time.perf_counter() - start)
    assert result is not None
    print(f"{name:16s} median {statistics.median(times):.3f} s wall "
          f"(min {min(times):.3f}, max {max(times):.3f}; {len(result.jobs)} jobs, "
          f"{result.num_events} events, {result.summary['num_perf_estimates']} perf estimates)")


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()}")
    for name in sys.argv[1:] or ["default"]:
        bench(name)


if __name__ == "__main__":
    main()
