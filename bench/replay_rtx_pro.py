"""Replay TensorRT-LLM's RTX PRO 6000 Server Edition tables through ``simulate serve``.

Run: ``python bench/replay_rtx_pro.py [model-substring]``, or ``--fit`` to refit the part's
narrow-expert half-width (``accelerators.rtx-pro-6000.moe_width_half`` in
perf/serving_calibration.yaml) on the MoE rows that are not validation cases. The rows are
every cell of the release 1.2 Performance Overview's three RTX tables
(https://nvidia.github.io/TensorRT-LLM/developer-guide/perf-overview.html, retrieved
2026-12-05; output tokens/s per GPU, NVFP4 ModelOpt checkpoints, trtllm-bench offline with
the page's request counts). "DEPn" is ``--ep n --dp-attention n``. The part runs on its
measured GEMM fractions (perf/calibration.yaml), its own narrow-expert half-width (fitted by
``--fit``) and the default serving calibration; ten of the rows are ``gputwin validate`` cases
(validation/cases/serving_rtx_pro.yaml). Prints each row's signed error and the median
and worst absolute error. Takes about ten seconds.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
from typing import NamedTuple

import gputwin.perf.serving as serving_mod
from gputwin.run.fit_engines import benchmark_requests
from gputwin.run.validate_serve import simulate_case


class Row(NamedTuple):
    model: str
    pp: int
    ep: int  # also the attention DP groups (DEP) when > 1
    input_tokens: int
    output_tokens: int
    published: float


def _rows() -> list[Row]:
    llama, q235, q30 = "llama3.3-70b", "qwen3-235b-a22b", "qwen3-30b-a3b"
    # (model, [(pp, ep) per column], {(isl, osl): [value per column or None]})
    tables = [
        (llama, [(1, 1), (2, 1)], {(1000, 1000): [1724, 1901], (1024, 1024): [1708, 1887],
                                   (8192, 1024): [296, 327], (32768, 1024): [None, 67]}),
        (q235, [(2, 2), (1, 8)], {(1000, 1000): [1731, 969], (1024, 1024): [1732, 963],
                                  (1024, 8192): [644, 711], (32768, 1024): [70, None]}),
        (q30, [(1, 2), (2, 2), (1, 8), (1, 1)], {
            (1000, 1000): [8409, 7059, 3985, 9938], (1024, 1024): [None, 7019, None, 9755],
            (1024, 8192): [3577, None, 2406, 3621], (8192, 1024): [None, 1416, None, 1914],
            (32768, 1024): [None, None, 180, 374]}),
    ]
    rows = []
    for model, columns, cells in tables:
        for (isl, osl), values in cells.items():
            for (pp, ep), value in zip(columns, values, strict=True):
                if value is not None:
                    rows.append(Row(model, pp, ep, isl, osl, float(value)))
    return rows


def predict(row: Row) -> float:
    inputs = {"model": row.model, "gpu": "rtx-pro-6000", "tp": 1, "pp": row.pp,
              "weights": "fp4", "engine": "trtllm",
              "offline": {"num_requests": benchmark_requests(row.input_tokens, row.output_tokens),
                          "input_tokens": row.input_tokens, "output_tokens": row.output_tokens}}
    if row.ep > 1:
        inputs.update(ep=row.ep, dp_attention=row.ep)
    return float(simulate_case(**inputs).metrics["output_tokens_per_s_per_gpu"])


#: (model, pp, ep, input, output) of the MoE rows that are validation cases (held out)
CASES = {("qwen3-235b-a22b", 1, 8, 1000, 1000), ("qwen3-235b-a22b", 2, 2, 1000, 1000),
         ("qwen3-30b-a3b", 1, 8, 1000, 1000), ("qwen3-30b-a3b", 1, 8, 1024, 8192),
         ("qwen3-30b-a3b", 2, 2, 1000, 1000), ("qwen3-30b-a3b", 1, 1, 1000, 1000)}
WIDTH_GRID = (1.0, 250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0)


def _errors_at(width_half: float, rows: list[Row]) -> list[float]:
    """Signed errors of ``rows`` with the part's narrow-expert half-width set."""
    namespace = vars(serving_mod)  # the step model reads its calibration there
    original = namespace["default_serving_calibration"]
    cal = original()
    acc = dataclasses.replace(cal.for_accelerator("rtx-pro-6000"), moe_width_half=width_half)
    patched = dataclasses.replace(cal, accelerators={**cal.accelerators,
                                                     "rtx-pro-6000": acc})
    namespace["default_serving_calibration"] = lambda: patched
    try:
        return [predict(r) / r.published - 1.0 for r in rows]
    finally:
        namespace["default_serving_calibration"] = original


def fit() -> None:
    """Grid-fit the half-width on the MoE rows that are not cases; report the held-out."""
    rows = [r for r in _rows() if r.model != "llama3.3-70b"]
    held = [(r.model, r.pp, r.ep, r.input_tokens, r.output_tokens) in CASES for r in rows]
    for v in WIDTH_GRID:
        errs = _errors_at(v, rows)
        fit_e = [abs(e) for e, h in zip(errs, held, strict=True) if not h]
        held_e = [abs(e) for e, h in zip(errs, held, strict=True) if h]
        loss = statistics.fmean(math.log1p(e) ** 2 for e, h in zip(errs, held, strict=True)
                                if not h)
        print(f"moe_width_half {v:6.0f}: fit {len(fit_e)} rows loss {loss:.4f} median "
              f"{statistics.median(fit_e):.1%} worst {max(fit_e):.1%} | held out "
              f"{len(held_e)} median {statistics.median(held_e):.1%} worst {max(held_e):.1%}")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--fit"]:
        fit()
        return
    errors = []
    for row in _rows():
        if argv and argv[0] not in row.model:
            continue
        error = predict(row) / row.published - 1.0
        errors.append(error)
        layout = f"DEP{row.ep}" if row.ep > 1 else "TP1"
        print(f"{row.model:16s} {layout},PP{row.pp} {row.input_tokens}/{row.output_tokens}: "
              f"{error:+6.1%}")
    magnitudes = [abs(e) for e in errors]
    print(f"{len(errors)} rows: median |error| {statistics.median(magnitudes):.1%}, "
          f"worst {max(magnitudes):.1%}")


if __name__ == "__main__":
    main(sys.argv[1:])
