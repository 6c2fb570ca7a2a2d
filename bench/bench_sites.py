"""Serving across sites vs one site: the same edge fleet, in process (BENCHMARKS.md).

``python bench/bench_sites.py [N]``: examples/edge-vs-core.yaml (edge-first, rollout off)
with N requests, against the same 4 L40S replicas of the 8B model as one site without
sites/users; median wall of 3 runs each.
"""

from __future__ import annotations

import statistics
import sys
import time

from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import load_serving_scenario


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    sets = [f"serving.workload[0].num_requests={n}", "rollout=null"]
    geo = load_serving_scenario("examples/edge-vs-core.yaml", sets)
    one = load_serving_scenario("examples/edge-vs-core.yaml", [
        *sets, "sites=[]", "users=[]", "variants=[]",
        "serving.services=[{name: chat, model: llama3.1-8b, gpu: l40s, weights_dtype: fp8, "
        "replicas: 4}]"])
    for label, sc in (("sites", geo), ("one-site", one)):
        walls = []
        for _ in range(3):
            t = time.perf_counter()
            r = simulate_serving(sc)
            walls.append(time.perf_counter() - t)
        med = statistics.median(walls)
        print(f"{label}: {n} requests, median wall {med:.3f} s, {n / med:,.0f} req/s, "
              f"{r.num_events} events")


if __name__ == "__main__":
    main()
