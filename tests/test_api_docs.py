"""docs/api.md documents every public name of gputwin.api (regenerate with
scripts/gen_api_docs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import gputwin.api as api

API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_has_a_section(name: str) -> None:
    assert f"### `{name}` (" in API_MD.read_text(encoding="utf-8"), (
        f"{name} is missing from docs/api.md; run: python scripts/gen_api_docs.py")
