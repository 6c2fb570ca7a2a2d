"""Serving simulator benchmarks (not part of the default tests).

    python bench/bench_serve.py            # both cases
    python bench/bench_serve.py azure      # whole Azure conv trace, one replica
    python bench/bench_serve.py million    # 1,000,000 synthetic requests, 64 replicas

Prints simulated requests per wall-second and peak RSS (resource.getrusage).
"""

from __future__ import annotations

import resource
import sys
import time

from gputwin.catalog.loader import default_catalog
from gputwin.scenario.paths import data_dir
from gputwin.scenario.serving import ServingScenario

AZURE = data_dir() / "traces" / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"


def _service(replicas: int, **extra: object) -> dict[str, object]:
    return {"name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb",
            "replicas": replicas, "router": "least_outstanding", **extra}


def case_azure() -> tuple[str, ServingScenario]:
    return "azure-conv, 1 replica", ServingScenario.model_validate({
        "name": "bench-azure", "serving": {"services": [_service(1)], "workload": [
            {"kind": "trace", "service": "chat", "format": "azure", "path": str(AZURE)}]}})


def case_million() -> tuple[str, ServingScenario]:
    return "1M synthetic, 64 replicas", ServingScenario.model_validate({
        "name": "bench-1m", "serving": {"services": [_service(64)], "workload": [
            {"kind": "synthetic", "service": "chat", "num_requests": 1_000_000,
             "arrival": {"process": "poisson", "rate": 400},
             "prompt": {"dist": "lognormal", "mean": 1000, "median": 600, "high": 16000},
             "output": {"dist": "lognormal", "mean": 250, "median": 150, "high": 4000}}]}})


def run(label: str, sc: ServingScenario) -> None:
    from gputwin.run.simulate_serve import simulate_serving

    default_catalog()
    t0 = time.perf_counter()
    res = simulate_serving(sc)
    wall = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = res.summary
    print(f"{label}: {s['num_requests']:,} requests, {res.num_events:,} events, "
          f"simulated {res.end_time_s:,.0f} s in {wall:.2f} s wall -> "
          f"{s['num_requests'] / wall:,.0f} requests/wall-s; peak RSS {rss_mib:,.0f} MiB; "
          f"p99 TTFT {s['ttft_s']['p99']:.3f} s, {s['output_tokens_per_s']:,.0f} tok/s")


if __name__ == "__main__":
    which = sys.argv[1:] or ["azure", "million"]
    for name in which:
        run(*(case_azure() if name == "azure" else case_million()))
