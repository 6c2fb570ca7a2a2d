"""Benchmark: the RAG example (pipeline in front of the LLM) in simulated requests per
wall-second, against the same workload without a pipeline (the fixed retrieval delay).

    python bench/bench_rag.py --requests 20000 --runs 3

Each run is in this process (the catalog and imports warm after the first); prints every
run, the medians, the share of wall time spent in the front stages and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from gputwin.run.serving_requests import build_requests_and_stages
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import load_serving_scenario
from gputwin.sim.rng import RandomStreams

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rag.yaml"


def one(n: int, pipeline: bool) -> tuple[float, float]:
    sets = [f"serving.workload.0.num_requests={n}"]
    if not pipeline:
        sets.append("serving.workload.0.pipeline=null")
    sc = load_serving_scenario(EXAMPLE, sets)
    t0 = time.perf_counter()
    build_requests_and_stages(sc, RandomStreams(sc.seed))
    front = time.perf_counter() - t0
    res = simulate_serving(sc)
    return float(res.summary["requests_per_wall_s"]), front / res.wall_time_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    one(500, True)  # warm imports and caches
    for pipeline in (True, False):
        rates, shares = [], []
        for i in range(args.runs):
            rate, share = one(args.requests, pipeline)
            rates.append(rate)
            shares.append(share)
            print(f"pipeline={pipeline} run {i}: {rate:,.0f} req/s (requests + stages "
                  f"{share:.1%} of the run)")
        print(f"pipeline={pipeline}: median {statistics.median(rates):,.0f} simulated req per "
              f"wall-s; requests + stages {statistics.median(shares):.1%}; load "
              f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
