"""Speed of the training-layout planner (``gputwin plan train``).

Run: ``python bench/bench_plan.py [--repeats=N]`` (default 5). Times the whole search for
Llama 3.1 405B on 16,384 H100 (8k tokens, GBS 2048: the issue's 16k-GPU dense case), a
doubling range 1,024-16,384 GPUs, and Mixtral 8x22B (MoE, EP searched) on 1,024 GPUs, and
prints the median wall time, splits and layouts per second. Target: the 16k-GPU dense search
well under 10 s on a 2-core machine.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time

from gputwin.requests import TrainPlanRequest
from gputwin.run.plan_train import plan_train

CASES = {
    "405b dense, 16384 H100": TrainPlanRequest(
        model="llama3.1-405b", gpu="h100-sxm-80gb", num_gpus=[16384], global_batch_size=2048,
        seq_len=8192),
    "405b dense, 1024..16384 H100": TrainPlanRequest(
        model="llama3.1-405b", gpu="h100-sxm-80gb", num_gpus=[1024, 2048, 4096, 8192, 16384],
        global_batch_tokens=16e6, seq_len=8192),
    "mixtral-8x22b MoE, 1024 H100": TrainPlanRequest(
        model="mixtral-8x22b", gpu="h100-sxm-80gb", num_gpus=[1024], global_batch_tokens=8e6,
        seq_len=8192),
}


def main(repeats: int) -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, median of {repeats}")
    for name, request in CASES.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            plan = plan_train(request)
            times.append(time.perf_counter() - start)
        med = statistics.median(times)
        r = plan.result
        print(f"{name:32s} {med:6.2f} s  {r.num_layouts:6d} splits  "
              f"{len(r.candidates):6d} fit  {sum(r.rejected.values()) / med:9.0f} refused/s  "
              f"best MFU {r.best.estimate.mfu:.1%}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a.startswith("--repeats=")]
    main(int(args[0].split("=")[1]) if args else 5)
