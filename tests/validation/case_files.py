"""Shared readers for the tests that check one case file against its source table."""

from __future__ import annotations

from pathlib import Path

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase


def cases_outside(file: Path) -> list[ValidationCase]:
    """Every case of the suite's other files (to check a file repeats none of them)."""
    return [c for path in sorted(CASES_DIR.glob("*.yaml")) if path != file
            for c in load_cases([path])]


def offline_lengths(case: ValidationCase) -> tuple[int, int]:
    """(input, output) tokens of an offline case."""
    off = case.inputs["offline"]
    return int(off["input_tokens"]), int(off["output_tokens"])


def layout(case: ValidationCase) -> tuple[int, int, int]:
    """(tp, ep, dp_attention) of a case, 1 where not given."""
    i = case.inputs
    return int(i.get("tp", 1)), int(i.get("ep", 1)), int(i.get("dp_attention", 1))
