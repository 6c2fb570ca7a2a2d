"""Fit ``masked_expert_exposed_read_frac`` on DeepGEMM's published grouped FP8 GEMM figures.

Run: ``python bench/fit_masked_experts.py``. The masked expert GEMM of a wide-EP decode
step (engine profile ``sglang-deepep``) costs ``FLOP/rate + f·weight bytes/bandwidth`` per
expert, i.e. the dense rate at ``rows/(rows + f·ridge·bytes per weight/2)``
(``perf.serving_rates.masked_expert_half_rows``). This grid-fits ``f`` (0.01-3.00, least squares
in log rate) to the 12 DeepGEMM figures of ``bench/probe_small_m_experts.py`` (H20 from
DeepGEMM PR 192 without swap-AB; H800 from the DeepGEMM README, modelled as the H100 SXM),
prints each figure against the fitted curve and the dense 64-row law, and the
leave-one-part-out fits. No serving row is used.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from probe_small_m_experts import DEEPGEMM_H20_PR192, DEEPGEMM_H800_README

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.perf.serving_calib import default_serving_calibration
from gputwin.topology.hardware import resolve_hardware

#: (part, rows per expert, (N, K), published TFLOP/s)
FIGURES = tuple(("h20", r, nk, t) for r, nk, t, _ in DEEPGEMM_H20_PR192) + tuple(
    ("h100-sxm-80gb", r, nk, t) for r, nk, t, _ in DEEPGEMM_H800_README)
GRID = tuple(i / 100 for i in range(1, 301))


def _modelled_tflops(frac: float) -> dict[str, tuple[float, float]]:
    """Per part: (dense rate TFLOP/s, half-rows at exposed-read fraction ``frac``)."""
    cat = default_catalog()
    out = {}
    for gpu in {f[0] for f in FIGURES}:
        perf = prepare_serving(ServingConfig(
            cat.model("deepseek-r1"), resolve_hardware(cat, gpu=gpu, system=None), tp=1,
            ep=16, dp_attention=16, weights_dtype="fp8", kv_cache_dtype="fp8",
            engine="sglang-deepep"), dataclasses.replace(
                default_serving_calibration(), masked_expert_exposed_read_frac=frac))
        out[gpu] = (perf._gemm_rate / perf._gemm_mult / 1e12, perf._masked_half)
    return out


def _loss(frac: float, parts: set[str]) -> float:
    rates = _modelled_tflops(frac)
    return sum(math.log(rates[g][0] * r / (r + rates[g][1]) / t) ** 2
               for g, r, _, t in FIGURES if g in parts)


def fit(parts: set[str]) -> float:
    return min(GRID, key=lambda f: _loss(f, parts))


def main() -> None:
    every = {f[0] for f in FIGURES}
    best = fit(every)
    rates = _modelled_tflops(best)
    print(f"fitted masked_expert_exposed_read_frac = {best:.2f}")
    print(f"{'part':14s} {'rows':>5} {'N x K':>11} {'DeepGEMM':>9} {'masked':>7} {'err':>6} "
          f"{'64-row law':>10}")
    for g, r, (n, k), t in FIGURES:
        dense, half = rates[g]
        m = dense * r / (r + half)
        law = dense * r / (r + 64)
        print(f"{g:14s} {r:5d} {n:5d}x{k:<5d} {t:9.0f} {m:7.0f} {m / t - 1:+6.0%} {law:10.0f}")
    for held in sorted(every):
        f = fit(every - {held})
        r = _modelled_tflops(f)
        errs = [r[g][0] * rows / (rows + r[g][1]) / t - 1
                for g, rows, _, t in FIGURES if g == held]
        print(f"fitted without {held}: {f:.2f}; {held} held out "
              f"{min(errs):+.0%} .. {max(errs):+.0%}")


if __name__ == "__main__":
    main()
