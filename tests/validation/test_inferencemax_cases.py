"""InferenceX (InferenceMAX) cases (serving_inferencemax.yaml): each case's inputs follow from
the row its citation quotes (each case's tolerance or known gap is checked with every suite
in test_suite.py)."""

from __future__ import annotations

import re

import pytest

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

CASES = load_cases([CASES_DIR / "serving_inferencemax.yaml"])
_ROW = re.compile(r"([\d,.]+) tok/s/GPU, median TTFT ([\d,.]+) ms, median TPOT ([\d.]+) ms, "
                  r"concurrency (\d+)")
TABLE_CASES = [c for c in CASES if _ROW.search(c.citation)]
TEXT_CASES = [c for c in CASES if not _ROW.search(c.citation)]  # points quoted in the prose


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _row(case: ValidationCase) -> tuple[float, float, float, int]:
    m = _ROW.search(case.citation)
    assert m, case.citation
    tput, ttft_ms, tpot_ms, conc = m.groups()
    return _num(tput), _num(ttft_ms), float(tpot_ms), int(conc)


def _throughput_and_concurrency(case: ValidationCase) -> tuple[float, int]:
    if case in TABLE_CASES:
        tput, _, _, conc = _row(case)
        return tput, conc
    # "(61,612.7 vs 51,523.0 tok/s/GPU) ... at concurrency 128": the second figure, the last
    # concurrency
    quoted = re.search(r"vs ([\d,.]+) tok/s/GPU", case.citation)
    concs = re.findall(r"concurrency (\d+)", case.citation)
    assert quoted and concs, case.citation
    return _num(quoted.group(1)), int(concs[-1])


def test_suite_is_hold_out_and_covers_parts_and_engines() -> None:
    assert len(CASES) >= 60
    assert not any(c.calibration for c in CASES)
    assert {c.inputs["gpu"] for c in CASES} >= {"b200", "h200-sxm-141gb", "h100-sxm-80gb",
                                                 "mi300x", "mi325x"}
    assert {c.inputs["engine"] for c in CASES} == {"trtllm", "vllm", "sglang"}
    assert {c.inputs["model"] for c in CASES} == {"gpt-oss-120b", "llama3.3-70b", "deepseek-r1"}


def test_points_without_a_tpot_are_few_and_say_their_layout_is_assumed() -> None:
    assert len(TEXT_CASES) <= 4
    for case in TEXT_CASES:
        assert case.inputs["tp"] == 1 and "TP1 assumed" in case.notes, case.id
        assert case.metric != "tpot_s.p50", case.id


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_workload_is_the_benchmark_sweep(case: ValidationCase) -> None:
    """bench_serving random dataset: lengths in 80-100 % of nominal, 10 x concurrency prompts."""
    closed = case.inputs["closed"]
    _, conc = _throughput_and_concurrency(case)
    assert closed["concurrency"] == conc
    assert closed["num_requests"] == 10 * conc
    for key in ("input", "output"):
        assert closed[key]["low"] == int(0.8 * closed[key]["high"])


@pytest.mark.parametrize("case", TABLE_CASES, ids=lambda c: c.id)
def test_gpus_are_what_littles_law_gives_from_the_row(case: ValidationCase) -> None:
    """Throughput/GPU x GPUs = concurrency x mean tokens per request / mean latency, and the
    GPUs are the layout's (tp x dp_attention)."""
    tput, ttft_ms, tpot_ms, conc = _row(case)
    closed = case.inputs["closed"]
    isl, osl = closed["input"]["high"], closed["output"]["high"]
    latency_s = ttft_ms / 1e3 + 0.9 * osl * tpot_ms / 1e3
    gpus = conc * 0.9 * (isl + osl) / latency_s / tput
    layout_gpus = case.inputs.get("tp", 1) * case.inputs.get("dp_attention", 1)
    assert gpus == pytest.approx(layout_gpus, rel=0.1)


@pytest.mark.parametrize("case", [c for c in CASES if c.metric == "output_tokens_per_s_per_gpu"],
                         ids=lambda c: c.id)
def test_throughput_case_is_the_output_share_of_the_total(case: ValidationCase) -> None:
    tput, _ = _throughput_and_concurrency(case)
    closed = case.inputs["closed"]
    isl, osl = closed["input"]["high"], closed["output"]["high"]
    assert case.published == pytest.approx(tput * osl / (isl + osl), rel=1e-4)
