"""openb (Alibaba GPU 2023, Weng et al. ATC'23) through the real framework.

Run: ``python bench/bench_openb.py [--seeds 3] [--skip-inflation] [--memory]``. Prints

1. the end-to-end time (scenario load → trace read → simulate) and peak Python memory of
   ``examples/openb-fgd.yaml`` as a time replay (``experiment=null``; 8,152 pods, 7,064
   GPU pods as jobs, 1,523 nodes), for the fgd, bestfit and gpu-packing profiles;
2. the workload-inflation table (the paper's Sec. 6): GPU demand left unallocated when the
   arrived demand reaches 80/90/95/100 % of capacity, and the share of capacity allocated
   when the first pod failed, per policy (also dot-product, gpu-clustering, random-fit),
   mean over seeds.

Skips (exit 0, with a message) when the trace is absent.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from gputwin.catalog.loader import default_catalog
from gputwin.run.simulate import simulate
from gputwin.run.world import build_hardware, read_scenario_trace, trace_layout
from gputwin.scenario import load_scenario
from gputwin.scenario.paths import data_dir
from gputwin.scheduling.inflation import inflate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "openb-fgd.yaml"
PODS = data_dir() / "traces" / "alibaba-gpu-v2023" / "openb_pod_list_default.csv"
REPLAY_POLICIES = ("fgd", "bestfit", "gpu-packing")
POLICIES = (*REPLAY_POLICIES, "dot-product", "gpu-clustering", "random-fit")
MARKS = (0.8, 0.9, 0.95, 1.0)


def end_to_end(profile: str, memory: bool) -> None:
    """Timed without tracing; ``memory``: a second, traced run for the peak (slow)."""
    start = time.perf_counter()
    sc = load_scenario(EXAMPLE, [f"scheduler.profile={profile}", "experiment=null"])
    result = simulate(sc)
    elapsed = time.perf_counter() - start
    peak = ""
    if memory:
        tracemalloc.start()
        simulate(load_scenario(EXAMPLE, [f"scheduler.profile={profile}", "experiment=null"]))
        peak = f", peak traced Python memory {tracemalloc.get_traced_memory()[1] / 2**20:.0f} MiB"
        tracemalloc.stop()
    s = result.summary
    print(f"{profile:12s} {elapsed:6.2f} s end to end (simulate {result.wall_time_s:.2f} s)"
          f"{peak}; jobs {s['jobs_by_status']}, events {result.num_events}")


def inflation(seeds: int) -> None:
    sc = load_scenario(EXAMPLE)
    trace = read_scenario_trace(sc)
    assert trace is not None
    layout = trace_layout(sc, build_hardware(sc, default_catalog()), trace.nodes)
    print(f"\ninflation on {layout.num_nodes} nodes / {layout.total_gpus} GPUs, "
          f"{len(trace.jobs)} GPU pods resampled, seeds 0..{seeds - 1}")
    print("policy        " + "  ".join(f"unalloc@{m:.0%}" for m in MARKS)
          + "  first-failure  time/run")
    for policy in POLICIES:
        runs = []
        start = time.perf_counter()
        for seed in range(seeds):
            runs.append(inflate(policy, trace.jobs, layout, marks=MARKS, seed=seed))
        per_run = (time.perf_counter() - start) / seeds
        cols = [statistics.mean(r.unallocated_gpus[i] for r in runs) for i in range(len(MARKS))]
        first = statistics.mean(r.first_failure_frac or 1.0 for r in runs)
        print(f"{policy:12s}  " + "  ".join(f"{c:12.1f}" for c in cols)
              + f"  {first:12.3f}  {per_run:6.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-inflation", action="store_true")
    parser.add_argument("--memory", action="store_true", help="also trace peak memory")
    args = parser.parse_args()
    if not PODS.is_file():
        print(f"skipped: openb trace not present at {PODS}")
        return 0
    for profile in REPLAY_POLICIES:
        end_to_end(profile, args.memory)
    print(f"peak RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
          " MiB")
    if not args.skip_inflation:
        inflation(args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
