"""The power-supply table (``energy/data/power_supply.yaml``): generation technologies,
batteries and region latitudes, typed and validated (errors name file, line and field)."""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gputwin.energy.tables import DATA_DIR
from gputwin.errors import UnknownNameError
from gputwin.yaml_io import load_validated


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SupplyTech(_Entry):
    """A generation technology: variable (profile-shaped) or firm (constant derated)."""

    kind: Literal["variable", "firm"]
    capacity_factor: float = Field(gt=0, le=1)
    usd_per_mwh: float = Field(ge=0)
    direct_g_per_kwh: float = Field(ge=0)
    lca_g_per_kwh: float = Field(ge=0)
    source: str = Field(min_length=8)


class BatteryTable(_Entry):
    round_trip_efficiency_frac: float = Field(gt=0, le=1)
    usd_per_kwh_year: float = Field(ge=0)
    source: str = Field(min_length=8)


class SupplyTable(_Entry):
    technologies: dict[str, SupplyTech]
    battery: BatteryTable
    latitude_deg: dict[str, float]
    latitude_source: str = Field(min_length=8)

    def tech(self, name: str) -> SupplyTech:
        try:
            return self.technologies[name]
        except KeyError:
            raise UnknownNameError("generation technology", name,
                                   list(self.technologies)) from None

    def latitude(self, region: str) -> float:
        try:
            return self.latitude_deg[region]
        except KeyError:
            raise UnknownNameError("region (latitude)", region, list(self.latitude_deg)) from None


@functools.cache
def supply_table() -> SupplyTable:
    return load_validated(DATA_DIR / "power_supply.yaml", SupplyTable)
