"""AWS Neuron hold-out cases (serving_neuron.yaml): each case's inputs and figure follow from
the Neuron table row its citation quotes, the gputwin TP is the chip count (2 NeuronCores per
Trainium/Inferentia2 chip, 4 logical cores per Trainium2 chip at LNC 2), and no case repeats
one of serving_accelerators.yaml (tolerances and known gaps are checked in test_suite.py)."""

from __future__ import annotations

import re

import pytest
from tests.validation.case_files import cases_outside

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

FILE = CASES_DIR / "serving_neuron.yaml"
CASES = load_cases([FILE])
TABLE_CASES = [c for c in CASES if "Transformers NeuronX" in c.citation]
_ROW = re.compile(r"TP (\d+), batch (\d+), sequence (\d+) \((\d+) in, (\d+) out\): "
                  r"(TTFT|TPOT) P50 ([\d.]+) ms")
_CORES_PER_CHIP = {"trn1-32xlarge": 2, "inf2-48xlarge": 2}


def _key(case: ValidationCase) -> tuple[object, ...]:
    i = case.inputs
    return (i["model"], i.get("system"), i["tp"], i.get("weights"), i["input_tokens"],
            i["output_tokens"], i["batch_size"], case.metric)


def test_file_is_hold_out_and_large_enough() -> None:
    assert len(CASES) >= 10
    assert not any(c.calibration for c in CASES)
    assert {c.inputs["system"] for c in CASES} == {"trn1-32xlarge", "inf2-48xlarge",
                                                   "trn2-server"}
    for case in CASES:
        assert case.url == "https://github.com/aws-neuron/aws-neuron-sdk"
        assert "aws-neuron/aws-neuron-sdk @" in case.citation


@pytest.mark.parametrize("case", TABLE_CASES, ids=lambda c: c.id)
def test_inputs_and_figure_are_the_quoted_row(case: ValidationCase) -> None:
    m = _ROW.search(case.citation)
    assert m, case.citation
    stack_tp, batch, seq, isl, osl = (int(g) for g in m.groups()[:5])
    i = case.inputs
    assert stack_tp == i["tp"] * _CORES_PER_CHIP[i["system"]]
    assert (batch, isl, osl) == (i["batch_size"], i["input_tokens"], i["output_tokens"])
    assert seq == isl + osl and i["max_num_seqs"] == batch
    assert case.metric == {"TTFT": "ttft_s", "TPOT": "tpot_s"}[m.group(6)]
    assert float(m.group(7)) / 1e3 == pytest.approx(case.published, rel=1e-9)
    assert (i.get("weights") == "int8") == ("int8" in case.citation)


def test_no_case_repeats_one_the_suite_holds() -> None:
    others = [c for c in cases_outside(FILE) if c.kind == "serving"]
    held = {_key(c) for c in others}
    assert len({_key(c) for c in CASES}) == len(CASES)
    assert not [c.id for c in CASES if _key(c) in held]
