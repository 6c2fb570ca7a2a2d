"""Fixtures for the training-model tests."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import Catalog, default_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()
