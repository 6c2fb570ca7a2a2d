"""Probe: price the narrow-expert MoE loss as memory or absolute time instead of tensor time.

Run: ``python bench/probe_moe_loss_forms.py FORM GRID`` (``FORM``: ``mem`` or ``row``;
``GRID``: comma-separated values). Replays the 86 TensorRT-LLM MoE rows of
``perf/engine_benchmarks.yaml`` like ``bench/fit_moe_width.py`` (weight-only multiplier
held at its fitted 0.9), with the narrow-expert factor ``width/(width + moe_width_half)``
switched off and, for every MoE layer, each routed row on the GPU charged instead

- ``mem``: ``c`` bytes per hidden element through HBM (the permutation, activation
  quantisation and weighted combine around the grouped GEMMs; about 10-16 bytes is what
  those passes move), at the part's usable bandwidth;
- ``row``: ``c`` ns per 1,024 hidden elements, the same on every part.

The time is added to the layer's GEMM time (both sides of its roofline). Reports the best
grid value, the fit (49 rows), leave-one-model-out and held-out (37 rows) errors, and
each row's signed error, as ``fit_moe_width.py`` does. Nothing is written to the model;
docs/serving-model.md ("What the narrow-expert loss is") reads the output. About 90 s per
grid value on one core. It patches the step model's class, so on a compiled build it needs
``GPUTWIN_ACCEL=0`` (the sources).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import fit_moe_width as fmw

import gputwin.perf.serving as serving_mod
from gputwin import USING_COMPILED
from gputwin.run.fit_engines import error_summary, summary_line

_GEMM_S = serving_mod.ServingPerf._gemm_s


def _extra_s(perf: Any, g: Any, routed: int, imb: float, form: str, c: float) -> float:
    """Seconds the ``form`` charges one layer of group ``g`` for ``routed`` tokens."""
    rows_on_gpu = routed * imb * g.rows_per_expert_per_token * g.local_experts
    hidden = perf.shape.hidden_size
    if form == "mem":
        return float(rows_on_gpu * c * hidden / perf._bw)
    return float(rows_on_gpu * c * 1e-9 * hidden / 1024.0)


@contextlib.contextmanager
def loss_form(form: str, c: float) -> Iterator[None]:
    """Run with the narrow-expert factor off and ``form``'s per-routed-row time on."""
    def gemm_s(self: Any, g: Any, width_eff: float, tokens: int, routed: int, imb: float,
               rate: float, masked: bool = False) -> tuple[float, float]:
        compute, weights = _GEMM_S(self, g, 1.0, tokens, routed, imb, rate, masked)
        if not g.local_experts:
            return compute, weights
        extra = _extra_s(self, g, routed, imb, form, c)
        return compute + extra, weights + extra

    serving_mod.ServingPerf._gemm_s = gemm_s  # type: ignore[method-assign]
    try:
        yield
    finally:
        serving_mod.ServingPerf._gemm_s = _GEMM_S  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    if USING_COMPILED:
        raise SystemExit("the probe swaps ServingPerf._gemm_s, which the compiled build does "
                         "not allow: run it with GPUTWIN_ACCEL=0 in the environment")
    form, grid = argv[0], [float(v) for v in argv[1].split(",")]
    if form not in ("mem", "row"):
        raise SystemExit("FORM is mem or row")
    rows = fmw.load_moe_rows()
    table: dict[float, list[float]] = {}
    with fmw._gemm_mult("trtllm", "weight_only", 0.9):
        for c in grid:
            with loss_form(form, c):
                table[c] = fmw._errors(rows)
    fit_idx = [k for k, r in enumerate(rows) if not r.held_out]
    best = fmw.best_grid_value(table, fit_idx)
    lomo: list[float] = []
    for model in sorted({r.model for r in rows}):
        v = fmw.best_grid_value(table, [k for k in fit_idx if rows[k].model != model])
        lomo += [table[v][k] for k in fit_idx if rows[k].model == model]
    errs = table[best]
    for r, e in zip(rows, errs, strict=True):
        print(f"{r.label}: {e:+7.1%}{'  (held out)' if r.held_out else ''}")
    for c in grid:
        print(summary_line(f"{form} {c:g} fit", error_summary([table[c][k] for k in fit_idx])))
    hopper = [e for r, e in zip(rows, errs, strict=True) if r.gpu not in ("b200", "gb200")]
    print(summary_line(f"best {form} {best:g}: fit", error_summary([errs[k] for k in fit_idx])))
    print(summary_line("leave_one_model_out", error_summary(lomo)))
    print(summary_line("held_out_rows", error_summary(
        [e for r, e in zip(rows, errs, strict=True) if r.held_out])))
    print(summary_line("hopper_rows", error_summary(hopper)))
    print(summary_line("all_rows", error_summary(errs)))


if __name__ == "__main__":
    main(sys.argv[1:])
