"""NVIDIA NIM for LLMs hold-out cases (serving_nim.yaml): each case's inputs and published
figure follow from the table row its citation quotes, the quoted rows are self-consistent
(Little's law), and no row repeats one the suite already holds (each case's tolerance or
known gap is checked with every suite in test_suite.py)."""

from __future__ import annotations

import re

import pytest

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

FILE = CASES_DIR / "serving_nim.yaml"
CASES = load_cases([FILE])
_SETTING = re.compile(r"(\d+) input / (\d+) output tokens, AIPerf\): concurrency (\d+): ")
_TTFT = re.compile(r"TTFT ([\d,.]+) ms")
_FULL_ROW = re.compile(r"TTFT ([\d,.]+) ms, ITL ([\d.]+) ms, ([\d,.]+) tokens/s")


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _setting(case: ValidationCase) -> tuple[int, int, int]:
    m = _SETTING.search(case.citation)
    assert m, case.citation
    isl, osl, conc = (int(g) for g in m.groups())
    return isl, osl, conc


def _key(case: ValidationCase) -> tuple[str, str, int, str, str, str]:
    i = case.inputs
    c = i["closed"]
    return (i["model"], i.get("gpu", ""), int(c["concurrency"]), repr(c["input"]),
            repr(c["output"]), case.metric)


def test_file_is_hold_out_nim_trtllm() -> None:
    assert len(CASES) >= 10
    assert not any(c.calibration for c in CASES)
    for case in CASES:
        assert case.kind == "serving_sim"
        assert case.inputs["engine"] == "trtllm" and case.inputs["weights"] == "fp8"
        assert "NIM" in case.citation and case.url.startswith("https://docs.nvidia.com/nim/")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_inputs_and_figure_are_the_quoted_row(case: ValidationCase) -> None:
    isl, osl, conc = _setting(case)
    closed = case.inputs["closed"]
    assert (closed["input"], closed["output"], closed["concurrency"]) == (isl, osl, conc)
    # AIPerf's request counts are not on the page: NVIDIA's AIPerf sweep scripts profile
    # 10 x the concurrency after a warm-up of 2 x (docs/serving-simulation.md)
    assert (closed["num_requests"], closed["warmup"]) == (12 * conc, 2 * conc)
    row = _FULL_ROW.search(case.citation)
    ttft = _TTFT.search(case.citation)
    assert ttft
    figure = {"ttft_s.mean": _num(ttft.group(1)) / 1e3,
              "itl_s.mean": _num(row.group(2)) / 1e3 if row else None,
              "output_tokens_per_s": _num(row.group(3)) if row else None}[case.metric]
    assert figure == pytest.approx(case.published, rel=1e-9)


@pytest.mark.parametrize("case", [c for c in CASES if _FULL_ROW.search(c.citation)],
                         ids=lambda c: c.id)
def test_quoted_row_obeys_littles_law(case: ValidationCase) -> None:
    """Closed loop: tokens/s = concurrency x output / (TTFT + (output - 1) x ITL)."""
    _, osl, conc = _setting(case)
    m = _FULL_ROW.search(case.citation)
    assert m
    ttft_s, itl_s, tput = _num(m.group(1)) / 1e3, _num(m.group(2)) / 1e3, _num(m.group(3))
    assert conc * osl / (ttft_s + (osl - 1) * itl_s) == pytest.approx(tput, rel=0.03)


def test_no_row_repeats_one_the_suite_holds() -> None:
    others = [c for path in sorted(CASES_DIR.glob("*.yaml")) if path != FILE
              for c in load_cases([path])
              if c.kind == "serving_sim" and "closed" in c.inputs]
    held = {_key(c) for c in others}
    assert len({_key(c) for c in CASES}) == len(CASES)
    assert not [c.id for c in CASES if _key(c) in held]
