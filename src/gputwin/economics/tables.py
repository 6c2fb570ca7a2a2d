"""Data tables of the economics package (``economics/data/*.yaml``), typed and validated.

- ``api_prices.yaml``: dated public API prices per million input/output tokens.

Every entry carries a source; errors name the file, line and field (:class:`InputError`).
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import load_validated

DATA_DIR = Path(__file__).parent / "data"


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApiPrice(_Table):
    """One public API's list price (USD per million tokens), dated."""

    name: str
    provider: str
    kind: str
    models: list[str]
    usd_per_million_input: float = Field(ge=0)
    usd_per_million_output: float = Field(ge=0)
    as_of: str = Field(pattern=r"^\d{4}-\d{2}$")
    source: str = Field(min_length=8)


class ApiPriceList(_Table):
    apis: list[ApiPrice]




@functools.cache
def api_prices() -> tuple[ApiPrice, ...]:
    table = load_validated(DATA_DIR / "api_prices.yaml", ApiPriceList)
    names = [a.name for a in table.apis]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"duplicate API name(s) {dup}", where=str(DATA_DIR / "api_prices.yaml"))
    return tuple(table.apis)


def apis_for_model(model: str) -> list[ApiPrice]:
    """The public APIs that serve catalog model ``model`` (may be empty)."""
    return [a for a in api_prices() if model in a.models]


def api_price(name: str) -> ApiPrice:
    for a in api_prices():
        if a.name == name:
            return a
    raise UnknownNameError("API", name, [a.name for a in api_prices()], where="--api")
