"""The public API is curated: every advertised name resolves, and nothing else leaks."""

from __future__ import annotations

import pytest

import gputwin.api as api


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(api, name) is not None


def test_unknown_name_is_attribute_error() -> None:
    with pytest.raises(AttributeError):
        api.no_such_thing  # noqa: B018
