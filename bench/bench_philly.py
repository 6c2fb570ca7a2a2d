"""All 82,247 Philly-derived jobs on a ~2,500-GPU cluster, per scheduling profile.

Run: ``python bench/bench_philly.py [profile ...] [--nodes=N] [--memory]`` (default
``fifo backfill-easy`` on 313 nodes; ``--memory``: tracemalloc peak, slows the run ~5x).
Cluster: 313 x DGX A100 (2,504 GPUs), 16 nodes per leaf, 2:1 oversubscribed. The trace
loads that cluster ~15 %; ``--nodes=56`` (448 GPUs, ~83 % load) shows queueing. Reports
wall time (load + simulate, trace reading included), peak RSS and the headline metrics.
Needs $GPUTWIN_DATA_DIR/traces/philly-adaptdl/philly.csv.
"""

from __future__ import annotations

import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

SCENARIO = """\
name: philly-full
seed: 1
cluster:
  system: dgx-a100
  num_nodes: NODES
  network: {topology: fat_tree, nodes_per_leaf: 16, oversubscription: 2.0}
workload:
  trace: {format: philly_csv, path: traces/philly-adaptdl/philly.csv}
scheduler:
  profile: PROFILE
  args: ARGS
"""

ARGS = {
    "backfill-easy": "{backfill: {runtime_estimate: predicted}}",
    "backfill-conservative": "{backfill: {runtime_estimate: predicted, max_job_test: 100}}",
    "multifactor": "{backfill: {runtime_estimate: predicted}}",
}


def bench(profile: str, trace_memory: bool, nodes: int) -> None:
    text = (SCENARIO.replace("PROFILE", profile).replace("ARGS", ARGS.get(profile, "{}"))
            .replace("NODES", str(nodes)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "philly.yaml"
        path.write_text(text)
        if trace_memory:
            tracemalloc.start()
        start = time.perf_counter()
        result = simulate(load_scenario(path))
        wall = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
        if trace_memory:
            tracemalloc.stop()
    s = result.summary
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mem = (f", peak {peak / 2**20:.0f} MiB traced" if trace_memory else "") + \
        f", peak RSS {rss:.0f} MiB"
    print(f"{profile:22s} {nodes * 8} GPUs {wall:6.2f} s wall{mem}; {len(result.jobs)} jobs, "
          f"{result.num_events} events; wait mean {s['wait_s']['mean']:.0f} s, "
          f"p95 {s['wait_s']['p95']:.0f} s; JCT mean {s['jct_s']['mean']:.0f} s; "
          f"bounded slowdown mean {s['bounded_slowdown']['mean']:.2f}; "
          f"allocation {s['gpu_allocation_mean_frac']:.3f}")


def main() -> None:
    print(f"python {platform.python_version()} on {platform.machine()}")
    memory = "--memory" in sys.argv
    nodes = next((int(a.split("=")[1]) for a in sys.argv if a.startswith("--nodes=")), 313)
    for profile in [a for a in sys.argv[1:] if not a.startswith("--")] or [
            "fifo", "backfill-easy"]:
        bench(profile, memory, nodes)


if __name__ == "__main__":
    main()
