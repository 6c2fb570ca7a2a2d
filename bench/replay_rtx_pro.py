"""Replay TensorRT-LLM's RTX PRO 6000 Server Edition tables through ``simulate serve``.

Run: ``python bench/replay_rtx_pro.py [model-substring]``. The rows are every cell of the
release 1.2 Performance Overview's three RTX tables
(https://nvidia.github.io/TensorRT-LLM/developer-guide/perf-overview.html, retrieved
2026-12-05; output tokens/s per GPU, NVFP4 ModelOpt checkpoints, trtllm-bench offline with
the page's request counts). "DEPn" is ``--ep n --dp-attention n``. Nothing here is fitted:
the part runs on its measured GEMM fractions (perf/calibration.yaml) and the default
serving calibration; ten of the rows are ``gputwin validate`` cases
(validation/cases/serving_rtx_pro.yaml). Prints each row's signed error and the median
and worst absolute error. Takes about ten seconds.
"""

from __future__ import annotations

import statistics
import sys
from typing import NamedTuple

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


def main(argv: list[str]) -> None:
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
