"""Data tables of the economics package (``economics/data/*.yaml``), typed and validated.

- ``tco.yaml``: what an owned fleet costs on top of the server capex of the price book --
  depreciation and financing, facility capex per MW by cooling type, network and storage
  capex per GPU, maintenance, staff, electricity and PUE defaults;
- ``api_prices.yaml``: dated public API prices per million input/output tokens.

Every entry carries a source; errors name the file, line and field (:class:`InputError`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import load_yaml_with_lines, validation_error_to_input_error

DATA_DIR = Path(__file__).parent / "data"

NetworkClass = Literal["infiniband", "ethernet", "none"]


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TcoTable(_Table):
    """Owned-fleet cost assumptions (see the header of ``tco.yaml``)."""

    depreciation_years: float = Field(gt=0)
    depreciation_source: str = Field(min_length=8)
    facility_years: float = Field(gt=0)
    facility_source: str = Field(min_length=8)
    financing_rate_frac: float = Field(ge=0, lt=1)
    financing_source: str = Field(min_length=8)
    facility_usd_per_mw: dict[str, float]
    facility_source_by_cooling: str = Field(min_length=8)
    network_usd_per_gpu: dict[NetworkClass, float]
    network_source: str = Field(min_length=8)
    storage_usd_per_gpu: float = Field(ge=0)
    storage_source: str = Field(min_length=8)
    maintenance_frac_per_year: float = Field(ge=0, lt=1)
    maintenance_source: str = Field(min_length=8)
    staff_gpus_per_fte: float = Field(gt=0)
    staff_usd_per_fte_year: float = Field(ge=0)
    staff_source: str = Field(min_length=8)
    electricity_usd_per_mwh: float = Field(ge=0)
    electricity_source: str = Field(min_length=8)
    pue: float = Field(ge=1.0)
    pue_source: str = Field(min_length=8)


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


def _load(name: str, schema: type[_Table]) -> _Table:
    path = DATA_DIR / name
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise InputError("expected a mapping", where=str(path))
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path), lines) from None


@functools.cache
def tco_table() -> TcoTable:
    table = _load("tco.yaml", TcoTable)
    assert isinstance(table, TcoTable)
    return table


@functools.cache
def api_prices() -> tuple[ApiPrice, ...]:
    table = _load("api_prices.yaml", ApiPriceList)
    assert isinstance(table, ApiPriceList)
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
