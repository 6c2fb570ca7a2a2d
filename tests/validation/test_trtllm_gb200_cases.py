"""GB200-against-B200 hold-out cases (serving_trtllm_gb200.yaml): each case's inputs and
published figure follow from the table row its citation quotes, every release 1.2.0 GB200
row has its B200 partner (same model, layout and lengths), the request counts are the
page's, and no row repeats one the suite already holds (each case's tolerance or known gap
is checked with every suite in test_suite.py)."""

from __future__ import annotations

import re

import pytest
from tests.validation.case_files import cases_outside, layout, offline_lengths

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

FILE = CASES_DIR / "serving_trtllm_gb200.yaml"
CASES = load_cases([FILE])
_ROW = re.compile(r"(?:row|ISL/OSL) (\d+)/(\d+): ([\d,]+) output tokens/s")
_RELEASE_12 = "https://nvidia.github.io/TensorRT-LLM/1.2.0/"
# the release 1.2.0 page's 'Preparing a Dataset' table
_REQUESTS_12 = {(1024, 1024): 3000, (1024, 8192): 1500, (8192, 1024): 1500}


def _key(case: ValidationCase) -> tuple[object, ...]:
    i = case.inputs
    off = i["offline"]
    return (i["model"], i["gpu"], layout(case), i.get("weights"),
            repr(off.get("input_tokens")), repr(off.get("output_tokens")), case.url)


def test_file_is_hold_out_trtllm_on_blackwell() -> None:
    assert len(CASES) >= 10
    assert not any(c.calibration for c in CASES)
    for case in CASES:
        assert case.kind == "serving_sim"
        assert case.inputs["engine"] == "trtllm" and case.inputs["weights"] == "fp4"
        assert case.inputs["gpu"] in ("b200", "gb200")
        assert "TensorRT-LLM" in case.citation


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_inputs_and_figure_are_the_quoted_row(case: ValidationCase) -> None:
    m = _ROW.search(case.citation)
    assert m, case.citation
    isl, osl, figure = int(m.group(1)), int(m.group(2)), float(m.group(3).replace(",", ""))
    assert offline_lengths(case) == (isl, osl)
    assert figure == pytest.approx(case.published, rel=1e-9)
    assert case.inputs["gpu"].upper() in case.citation
    if case.url.startswith(_RELEASE_12):
        # per-GPU tables; the page's request count for the lengths
        assert case.metric == "output_tokens_per_s_per_gpu"
        assert case.inputs["offline"]["num_requests"] == _REQUESTS_12[(isl, osl)]
        tp, ep, dp = layout(case)
        assert (tp, ep, dp) in ((1, 1, 1), (1, 4, 4))
        assert ("DEP4" in case.citation) == (ep == 4)


def test_every_release_12_gb200_row_has_its_b200_partner() -> None:
    rows = [c for c in CASES if c.url.startswith(_RELEASE_12)]
    b200 = {(c.inputs["model"], layout(c), offline_lengths(c)) for c in rows
            if c.inputs["gpu"] == "b200"}
    gb200 = [c for c in rows if c.inputs["gpu"] == "gb200"]
    assert gb200
    missing = [c.id for c in gb200
               if (c.inputs["model"], layout(c), offline_lengths(c)) not in b200]
    assert not missing


def test_no_row_repeats_one_the_suite_holds() -> None:
    others = [c for c in cases_outside(FILE)
              if c.kind == "serving_sim" and "offline" in c.inputs and "gpu" in c.inputs]
    held = {_key(c) for c in others}
    assert len({_key(c) for c in CASES}) == len(CASES)
    assert not [c.id for c in CASES if _key(c) in held]
