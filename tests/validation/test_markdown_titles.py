"""Every validation kind gets its section in `gputwin validate --markdown` (docs/validation.md)."""

from __future__ import annotations

from typing import get_args

from gputwin.validation.markdown import _KIND_TITLES
from gputwin.validation.schema import CaseKind


def test_every_case_kind_has_a_markdown_section() -> None:
    assert set(get_args(CaseKind)) == set(_KIND_TITLES)
