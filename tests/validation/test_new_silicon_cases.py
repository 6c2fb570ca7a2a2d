"""New-silicon hold-out cases (serving_new_silicon.yaml): each case's figure is the per-chip
number its citation quotes, its lengths are the 80-100 % InferenceX range of the workload
named in its id, and no case was used to set a coefficient."""

from __future__ import annotations

import re

import pytest

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

CASES = load_cases([CASES_DIR / "serving_new_silicon.yaml"])
SERVING = [c for c in CASES if c.kind == "serving_sim"]
TRAINING = [c for c in CASES if c.kind == "training"]
_WORKLOAD = re.compile(r"-(\d)k(\d)k-")
_PER_CHIP = re.compile(r"(\d)k/(\d)k ([\d,.]+) (?:output tok/s per chip|tok/s = ([\d,.]+) output)")


def test_file_is_hold_out_on_the_new_parts() -> None:
    assert len(SERVING) >= 6 and len(TRAINING) >= 6
    assert not any(c.calibration for c in CASES)
    assert {c.inputs["gpu"] for c in CASES} == {"tpu-v7"}
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", SERVING, ids=lambda c: c.id)
def test_figure_and_lengths_are_the_quoted_workload(case: ValidationCase) -> None:
    workload = _WORKLOAD.search(case.id)
    quoted = _PER_CHIP.search(case.citation)
    assert workload is not None and quoted is not None
    assert quoted.group(1, 2) == workload.group(1, 2)
    per_chip = quoted.group(4) or quoted.group(3)
    assert case.published == pytest.approx(float(per_chip.replace(",", "")))
    closed = case.inputs["closed"]
    for key, k in (("input", int(workload.group(1))), ("output", int(workload.group(2)))):
        assert closed[key] == {"low": int(0.8 * k * 1024), "high": k * 1024}


_TRAIN_ROW = re.compile(r"(llama3\.1-\d+b), (\d+) chips, GBS (\d+), sequence (\d+), (\w+): .*, "
                        r"([\d,.]+) tokens/s/chip")


@pytest.mark.parametrize("case", TRAINING, ids=lambda c: c.id)
def test_training_rows_are_the_quoted_summary_row(case: ValidationCase) -> None:
    row = _TRAIN_ROW.search(case.citation)
    assert row is not None
    model, chips, gbs, seq, precision, tokens = row.groups()
    i = case.inputs
    assert (i["model"], i["num_gpus"], i["global_batch_size"], i["seq_len"]) == (
        model, int(chips), int(gbs), int(seq))
    assert i["dtype"] == ("fp8" if precision == "fp8_full" else "bf16")
    assert case.published == pytest.approx(float(tokens.replace(",", "")))
