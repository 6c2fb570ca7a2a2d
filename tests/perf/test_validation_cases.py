"""Every published training figure in validation/cases/training.yaml within its tolerance."""

from __future__ import annotations

import statistics

from gputwin.validation.runner import CASES_DIR, load_cases, run_case

CASES = load_cases([CASES_DIR / "training.yaml"])


def test_suite_size_and_hold_out() -> None:
    assert len(CASES) >= 10
    assert sum(c.calibration for c in CASES) <= len(CASES) / 2
    assert all(c.kind == "training" and c.url.startswith("http") for c in CASES)


def test_hold_out_error_targets() -> None:
    errors = [abs(run_case(c).rel_error or 1.0) for c in CASES if not c.calibration]
    assert statistics.median(errors) <= 0.10
    assert max(errors) <= 0.25
