"""Split each published multi-GPU generation series into a parallel and a serial part.

Run: ``python bench/probe_generation_series.py``. Groups the ``time_s`` cases of
``validation/cases/generation.yaml`` that differ only in ``num_gpus`` (the same model, part,
shape and options), fits ``T(N) = P / N + S`` by least squares to the published times and,
separately, to the model's predictions, and prints per series the parallel part P (seconds
on one GPU that divide by the GPU count), the serial part S (seconds that do not) and the
model's shortfall in each. A model whose P matches and whose S falls short is missing
per-video work that does not shrink with the GPU count, not per-step DiT time. Nothing is
fitted into the model; docs/economics.md ('Where the fast-GPU shortfall sits') quotes the
output.
"""

from __future__ import annotations

import json
from collections import defaultdict

from gputwin.validation.runner import load_cases, run_case

SUITE = "generation.yaml"


def _series() -> dict[str, list[tuple[int, float, float]]]:
    """(GPUs, published s, predicted s) per series key, for series of 2+ GPU counts."""
    groups: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for case in load_cases():
        if case.kind != "generation" or case.metric != "time_s":
            continue
        inputs = {k: v for k, v in case.inputs.items() if k not in ("num_gpus", "fps")}
        predicted = run_case(case).predicted
        if predicted is None:
            continue
        key = json.dumps(inputs, sort_keys=True)
        groups[key].append((int(case.inputs.get("num_gpus", 1)), case.published, predicted))
    return {k: sorted(v) for k, v in groups.items() if len({n for n, _, _ in v}) >= 2}


def fit_parallel_serial(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (P, S) of T = P / N + S over (N, T) points with 2+ distinct N."""
    xs = [1.0 / n for n, _ in points]
    ys = [t for _, t in points]
    count = len(points)
    mean_x, mean_y = sum(xs) / count, sum(ys) / count
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    parallel_s = sxy / sxx
    return parallel_s, mean_y - parallel_s * mean_x


def main() -> None:
    print(f"{'series':72s} {'GPUs':>10s} {'P pub':>7s} {'P model':>7s} {'S pub':>6s} "
          f"{'S model':>7s} {'S short':>7s}")
    for key, rows in _series().items():
        p_pub, s_pub = fit_parallel_serial([(n, pub) for n, pub, _ in rows])
        p_mod, s_mod = fit_parallel_serial([(n, pred) for n, _, pred in rows])
        gpus = ",".join(str(n) for n, _, _ in rows)
        label = " ".join(f"{k}={v}" for k, v in json.loads(key).items())
        print(f"{label[:72]:72s} {gpus:>10s} {p_pub:7.0f} {p_mod:7.0f} {s_pub:6.1f} "
              f"{s_mod:7.1f} {s_pub - s_mod:+7.1f}")


if __name__ == "__main__":
    main()
