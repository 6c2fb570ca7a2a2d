"""Event-kernel throughput: events fired per second (median of several runs).

Run: ``python bench/bench_kernel.py``. Two workloads:

- ``chain``: each event schedules the next one (queue stays small, like a busy model).
- ``bulk``: N events scheduled up front at random times, then fired (queue of N).
"""

from __future__ import annotations

import platform
import random
import statistics
import time

from gputwin.sim import Simulator

N = 300_000
REPEATS = 5


def bench_chain(n: int = N, width: int = 100) -> float:
    sim = Simulator()
    count = [0]

    def tick() -> None:
        count[0] += 1
        if count[0] < n:
            sim.schedule_in(1.0, tick)

    for _ in range(width):
        sim.schedule_in(0.0, tick)
    start = time.perf_counter()
    fired = sim.run()
    return fired / (time.perf_counter() - start)


def bench_bulk(n: int = N) -> float:
    sim = Simulator()
    rnd = random.Random(1)

    def noop() -> None:
        pass

    start = time.perf_counter()
    for _ in range(n):
        sim.schedule_at(rnd.random() * 1e6, noop)
    fired = sim.run()
    return fired / (time.perf_counter() - start)


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()} ({platform.processor()})")
    for name, fn in (("chain (schedule+fire)", bench_chain), ("bulk (schedule+fire)", bench_bulk)):
        rates = [fn() for _ in range(REPEATS)]
        print(f"{name:24s} median {statistics.median(rates) / 1e3:8.0f} k events/s "
              f"(min {min(rates) / 1e3:.0f}k, max {max(rates) / 1e3:.0f}k, {REPEATS} runs)")


if __name__ == "__main__":
    main()
