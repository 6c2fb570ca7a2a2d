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


class RegionalCapacityFactor(_Entry):
    """A region's published capacity factor of one variable technology."""

    value: float = Field(gt=0, le=1)
    year: str = Field(min_length=4)
    source: str = Field(min_length=8)


class GridLowCarbon(_Entry):
    """Each grid's annual mean carbon-free (renewable + nuclear) share of generation."""

    year: str = Field(min_length=4)
    source: str = Field(min_length=8)
    share_frac: dict[str, float]


class SupplyTable(_Entry):
    technologies: dict[str, SupplyTech]
    battery: BatteryTable
    latitude_deg: dict[str, float]
    latitude_source: str = Field(min_length=8)
    #: region -> variable technology -> its capacity factor there (others: the tech's own)
    regional_capacity_factors: dict[str, dict[str, RegionalCapacityFactor]] = Field(
        default_factory=dict)
    grid_low_carbon: GridLowCarbon

    def grid_low_carbon_share(self, region: str) -> float | None:
        """Annual mean carbon-free share of ``region``'s grid (``None``: not in the table)."""
        return self.grid_low_carbon.share_frac.get(region)

    def capacity_factor(self, tech: str, region: str) -> float:
        """Annual mean output over nameplate of ``tech`` in ``region``: the region's
        published figure when the table has one, else the technology's (US) figure."""
        own = self.regional_capacity_factors.get(region, {}).get(tech)
        return self.tech(tech).capacity_factor if own is None else own.value

    def capacity_factor_basis(self, tech: str, region: str) -> str:
        """Where :meth:`capacity_factor` comes from, for summaries."""
        own = self.regional_capacity_factors.get(region, {}).get(tech)
        if own is not None:
            return f"{region} {own.year}"
        return ("firm: availability" if self.tech(tech).kind == "firm"
                else f"no {region} figure: the technology's US value")

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
