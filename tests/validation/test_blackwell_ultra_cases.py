"""Blackwell Ultra hold-out cases (serving_blackwell_ultra.yaml): each case's inputs and
published figure follow from the B300/GB300 table row its citation quotes, the request
counts follow fit_engines.benchmark_requests, the layouts are the page's (TP1 or DEP4), and
no row repeats one the suite already holds (each case's tolerance or known gap is checked
with every suite in test_suite.py)."""

from __future__ import annotations

import re

import pytest
from tests.validation.case_files import cases_outside, layout, offline_lengths

from gputwin.run.fit_engines import benchmark_requests
from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

FILE = CASES_DIR / "serving_blackwell_ultra.yaml"
CASES = load_cases([FILE])
_ROW = re.compile(r"row (\d+)/(\d+): ([\d,]+) output tokens/s per GPU")
_COLUMN = re.compile(r"column '(G?B300)\* \(beta\) (TP1|DEP4) \(FP4\)'")
_RELEASE_12 = "https://nvidia.github.io/TensorRT-LLM/1.2.0/developer-guide/perf-overview.html"


def test_file_is_hold_out_trtllm_fp4_on_blackwell_ultra() -> None:
    assert len(CASES) >= 12
    assert not any(c.calibration for c in CASES)
    gpus = {c.inputs["gpu"] for c in CASES}
    assert gpus == {"b300", "gb300"}
    for case in CASES:
        assert case.kind == "serving_sim" and case.url == _RELEASE_12
        assert case.inputs["engine"] == "trtllm" and case.inputs["weights"] == "fp4"
        assert case.metric == "output_tokens_per_s_per_gpu"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_inputs_and_figure_are_the_quoted_row(case: ValidationCase) -> None:
    row, col = _ROW.search(case.citation), _COLUMN.search(case.citation)
    assert row and col, case.citation
    isl, osl = int(row.group(1)), int(row.group(2))
    assert offline_lengths(case) == (isl, osl)
    assert float(row.group(3).replace(",", "")) == pytest.approx(case.published, rel=1e-9)
    assert col.group(1).lower() == case.inputs["gpu"]
    assert layout(case) == ((1, 4, 4) if col.group(2) == "DEP4" else (1, 1, 1))
    assert case.inputs["offline"]["num_requests"] == benchmark_requests(isl, osl)


def test_ids_are_unique_and_no_row_repeats_one_the_suite_holds() -> None:
    def key(c: ValidationCase) -> tuple[object, ...]:
        i, off = c.inputs, c.inputs["offline"]
        return (i["model"], i["gpu"], layout(c), i.get("weights"),
                repr(off.get("input_tokens")), repr(off.get("output_tokens")), c.url)

    others = [c for c in cases_outside(FILE)
              if c.kind == "serving_sim" and "offline" in c.inputs and "gpu" in c.inputs]
    held = {key(c) for c in others}
    assert len({key(c) for c in CASES}) == len({c.id for c in CASES}) == len(CASES)
    assert not [c.id for c in CASES if key(c) in held]
