"""Speed of a shared fleet (training beside inference): examples/shared-fleet.yaml.

Run: ``python bench/bench_shared_fleet.py [scenario.yaml] [--runs N]`` (default the
example, 3 runs). Each run loads the scenario and simulates it in this process (no
output files) and prints its wall and CPU seconds (CPU: this process, a steadier figure
on a shared machine), the jobs and requests simulated and the rates per second; then
the medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

EXAMPLE = Path(__file__).parents[1] / "examples" / "shared-fleet.yaml"


def one(path: Path) -> tuple[float, float, int, int]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = simulate(load_scenario(path))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    requests = result.summary["serving"]["num_requests"]
    return wall, cpu, len(result.jobs), requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", nargs="?", default=str(EXAMPLE))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"load {os.getloadavg()[0]:.1f}")
    walls, cpus = [], []
    for i in range(args.runs):
        wall, cpu, jobs, requests = one(Path(args.scenario))
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {i}: {wall:.2f} s wall, {cpu:.2f} s CPU; {jobs} jobs, {requests} "
              f"requests: {requests / cpu:,.0f} requests and {jobs / cpu:,.1f} jobs per "
              "CPU-second")
    w, c = statistics.median(walls), statistics.median(cpus)
    print(f"median {w:.2f} s wall, {c:.2f} s CPU; {requests / w:,.0f} requests per "
          f"wall-second, {requests / c:,.0f} per CPU-second")


if __name__ == "__main__":
    main()
