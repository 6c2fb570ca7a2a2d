"""In-process latency of the analytical estimates (not part of the default test run).

Run: ``python bench/bench_estimates.py``. Prints the median and p90 latency per call over
several repetitions, after a warm-up, for a few representative configurations. Caches of
pure sub-results are cleared before every call so the figure is a cold estimate.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from gputwin.catalog.loader import default_catalog
from gputwin.perf.training import ParallelConfig, TrainingConfig, estimate_training
from gputwin.topology.collectives import CollectiveOp, collective_time, group_for_ranks
from gputwin.topology.hardware import resolve_hardware


def _time_calls(fn: Callable[[], object], repeats: int = 200) -> tuple[float, float]:
    for _ in range(10):
        fn()
    samples = []
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    finally:
        gc.enable()
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def _clear_caches() -> None:
    """Empty the memo caches of pure sub-results, so each call is a cold estimate."""
    from gputwin.perf import compute, flops
    from gputwin.topology import comm_group

    for fn in (compute, flops, comm_group):
        for obj in vars(fn).values():
            clear = getattr(obj, "cache_clear", None)
            if callable(clear) and getattr(obj, "__module__", "") == fn.__name__:
                clear()


def main() -> None:
    catalog = default_catalog()
    cases = [
        ("gpt3-175b", "a100-sxm-80gb", 1024, ParallelConfig(tp=8, pp=8, interleave=3),
         TrainingConfig(global_batch_size=1536, micro_batch_size=1, seq_len=2048)),
        ("llama3-70b", "h100-sxm-80gb", 64, ParallelConfig(tp=4, pp=4, cp=2, interleave=5),
         TrainingConfig(global_batch_size=128, seq_len=8192, dtype="fp8")),
        ("mixtral-8x7b", "h100-sxm-80gb", 64, ParallelConfig(tp=1, pp=4, ep=8),
         TrainingConfig(global_batch_size=256, seq_len=4096)),
    ]
    print(f"{'estimate':<48} {'median':>10} {'p90':>10}")
    for model_name, gpu, num_gpus, parallel, config in cases:
        if model_name not in catalog.models:
            print(f"{model_name}: not in catalog, skipped")
            continue
        model = catalog.model(model_name)
        hw = resolve_hardware(catalog, gpu=gpu)

        def cold(model=model, hw=hw, n=num_gpus, p=parallel, c=config) -> object:  # type: ignore[no-untyped-def]
            _clear_caches()
            return estimate_training(model, hw, n, p, c, check_memory=False)

        def warm(model=model, hw=hw, n=num_gpus, p=parallel, c=config) -> object:  # type: ignore[no-untyped-def]
            return estimate_training(model, hw, n, p, c, check_memory=False)

        for label_kind, fn in (("cold", cold), ("warm", warm)):
            median, p90 = _time_calls(fn)
            label = f"train {model_name} {num_gpus}x{gpu} ({label_kind})"
            print(f"{label:<48} {median * 1e3:>8.3f}ms {p90 * 1e3:>8.3f}ms")
    hw = resolve_hardware(catalog, gpu="h100-sxm-80gb")
    group = group_for_ranks(hw, 64, 1)
    median, p90 = _time_calls(lambda: collective_time(CollectiveOp.ALL_REDUCE, 2**30, group),
                              repeats=2000)
    print(f"{'collective all_reduce 1GiB 64xh100':<48} {median * 1e6:>8.1f}us {p90 * 1e6:>8.1f}us")


if __name__ == "__main__":
    main()
