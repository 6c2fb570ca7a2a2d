"""Frontier training cases (training_frontier.yaml): coverage and hold-out error (each
case's tolerance or known gap is checked with every suite in test_suite.py)."""

from __future__ import annotations

import statistics

from gputwin.validation.runner import CASES_DIR, load_cases, run_case

CASES = load_cases([CASES_DIR / "training_frontier.yaml"])


def test_frontier_suite_covers_scale_and_parts() -> None:
    assert len(CASES) >= 12
    assert max(int(c.inputs["num_gpus"]) for c in CASES) >= 16384
    assert not any(c.calibration for c in CASES)
    parts = {c.inputs.get("gpu") or c.inputs.get("system") for c in CASES}
    assert {"h100-sxm-80gb", "b200", "gb200-nvl72", "gb300-nvl72"} <= parts


def test_hold_out_error_without_known_gaps() -> None:
    errors = [abs(run_case(c).rel_error or 1.0) for c in CASES if not c.known_gap]
    assert statistics.median(errors) <= 0.10
    assert max(errors) <= 0.20
