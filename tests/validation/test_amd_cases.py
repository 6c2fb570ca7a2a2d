"""AMD Instinct hold-out cases (serving_amd.yaml): every figure follows from the numbers its
citation quotes (a static batch's output tokens/s = batch x output / latency; an MLPerf log's
tokens/s and its output length = tokens/s / samples/s), and no case repeats one the suite
already holds (tolerances and known gaps are checked in test_suite.py)."""

from __future__ import annotations

import re

import pytest
from tests.validation.case_files import cases_outside

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

FILE = CASES_DIR / "serving_amd.yaml"
CASES = load_cases([FILE])
STATIC = [c for c in CASES if c.metric == "static_throughput_tokens_per_s"]
MLPERF = [c for c in CASES if "MLPerf" in c.citation and c.metric == "output_tokens_per_s"]
MLPERF_TPOT = [c for c in CASES if "MLPerf" in c.citation and c.metric == "tpot_s.p50"]
_LATENCY = re.compile(r"batch (?:size )?(\d+)[,:].*latency ([\d.]+) s")
_MLPERF = re.compile(r"(?:Offline: ([\d,.]+) tokens/s \(([\d.]+) samples/s\)"
                     r"|Server: ([\d,.]+) completed tokens/s \(([\d.]+) completed, ([\d.]+) "
                     r"scheduled samples/s\))")
_TPOT = re.compile(r"median time per output token ([\d.]+) ms")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_file_is_hold_out_amd_and_large_enough() -> None:
    assert len(CASES) >= 10
    assert not any(c.calibration for c in CASES)
    assert {c.inputs["gpu"] for c in CASES} <= {"mi300x", "mi325x"}
    assert all(c.url.startswith("https://") for c in CASES)


@pytest.mark.parametrize("case", STATIC, ids=lambda c: c.id)
def test_static_figure_is_batch_times_output_over_latency(case: ValidationCase) -> None:
    m = _LATENCY.search(case.citation)
    assert m, case.citation
    batch, latency_s = int(m.group(1)), float(m.group(2))
    assert batch == case.inputs["batch_size"]
    expected = batch * case.inputs["output_tokens"] / latency_s
    assert case.published == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("case", MLPERF, ids=lambda c: c.id)
def test_mlperf_figure_and_output_length_are_the_log(case: ValidationCase) -> None:
    m = _MLPERF.search(case.citation)
    assert m, case.citation
    if m.group(1):  # Offline: the log's tokens/s and samples/s
        tokens_per_s, samples_per_s = _number(m.group(1)), _number(m.group(2))
        output = case.inputs["offline"]["output_tokens"]
    else:  # Server: completed tokens/s; arrivals at the scheduled samples/s
        tokens_per_s, samples_per_s = _number(m.group(3)), _number(m.group(4))
        assert case.inputs["poisson"]["rate"] == pytest.approx(_number(m.group(5)))
        output = case.inputs["poisson"]["output"]
    assert case.published == pytest.approx(tokens_per_s, rel=1e-3)
    assert output == round(tokens_per_s / samples_per_s)


@pytest.mark.parametrize("case", MLPERF_TPOT, ids=lambda c: c.id)
def test_mlperf_tpot_is_the_logged_median(case: ValidationCase) -> None:
    m = _TPOT.search(case.citation)
    assert m, case.citation
    assert case.published == pytest.approx(float(m.group(1)) / 1e3, rel=1e-3)


def test_no_case_repeats_one_the_suite_holds() -> None:
    others = {c.id for c in cases_outside(FILE)}
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & others
