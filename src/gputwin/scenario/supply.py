"""The ``site.power_supply:`` section: PPAs, on-site generation, a battery, the
interconnection limit (see :mod:`gputwin.energy.supply` and docs/energy.md).

```yaml
site:
  region: US-TEX-ERCO
  power_supply:
    ppas: [{tech: solar-pv, capacity: 3MW}, {tech: wind-onshore, capacity: 3MW}]
    onsite: [{tech: fuel-cell, capacity: 500kW}]
    battery: {capacity: 8MWh, power: 2MW, policy: cfe}
    interconnect: 2.5MW
```

Technology names are checked against ``energy/data/power_supply.yaml`` at load time;
:meth:`PowerSupplyConfig.to_supply` builds the domain object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gputwin.energy.supply import Battery, Generator, PowerSupply
from gputwin.energy.supply_tables import supply_table
from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.quantities import Joules, Watts


class GeneratorConfig(InputModel):
    """One PPA or on-site unit; price and capacity factor default to the table's."""

    tech: str = Field(description="solar-pv | wind-onshore | gas-turbine | gas-cc | "
                      "fuel-cell | smr (energy/data/power_supply.yaml)")
    capacity: Watts = Field(gt=0, description="Nameplate, e.g. 50MW")
    price_usd_per_mwh: float | None = Field(default=None, ge=0, description="Contract or "
                                            "generation price (default: the table's)")
    capacity_factor: float | None = Field(default=None, gt=0, le=1, description="Annual "
                                          "mean output / nameplate (default: the table's)")

    @field_validator("tech")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            supply_table().tech(value)
        except InputError as exc:
            raise ValueError(exc.detail) from None
        return value

    def to_generator(self) -> Generator:
        return Generator(self.tech, self.capacity, self.price_usd_per_mwh, self.capacity_factor)


class BatteryConfig(InputModel):
    capacity: Joules = Field(gt=0, description="Usable energy, e.g. 400MWh")
    power: Watts = Field(gt=0, description="Charge/discharge power, e.g. 100MW")
    round_trip_efficiency: float | None = Field(default=None, gt=0, le=1,
                                                description="Default: the table's (85 %)")
    policy: Literal["cfe", "peak-shave"] = Field(
        default="cfe", description="cfe: charge from PPA surplus, discharge into unmatched "
        "load; peak-shave: also charge from the grid, discharge only above the "
        "interconnection limit")


class PowerSupplyConfig(InputModel):
    """What feeds the site besides the grid (module docstring)."""

    ppas: tuple[GeneratorConfig, ...] = Field(default=(), description="Virtual PPAs "
                                              "(solar-pv, wind-onshore, or firm contracts)")
    onsite: tuple[GeneratorConfig, ...] = Field(default=(), description="On-site firm "
                                                "generation behind the meter")
    battery: BatteryConfig | None = None
    interconnect: Watts | None = Field(default=None, gt=0, description="Grid connection "
                                       "limit, e.g. 20MW (cluster runs: the site power "
                                       "budget becomes this + firm on-site output)")

    @model_validator(mode="after")
    def _firm_onsite(self) -> PowerSupplyConfig:
        for g in self.onsite:
            if supply_table().tech(g.tech).kind != "firm":
                raise ValueError(f"onsite: {g.tech} is not firm generation; contract it as "
                                 "a PPA (ppas:) instead")
        return self

    def to_supply(self) -> PowerSupply:
        bat = self.battery
        return PowerSupply(
            ppas=tuple(g.to_generator() for g in self.ppas),
            onsite=tuple(g.to_generator() for g in self.onsite),
            battery=None if bat is None else Battery(bat.capacity, bat.power,
                                                     bat.round_trip_efficiency, bat.policy),
            interconnect_w=self.interconnect)

    def firm_onsite_w(self) -> float:
        """Expected firm on-site output (nameplate × capacity factor), W."""
        tab = supply_table()
        return sum(g.capacity * (g.capacity_factor or tab.tech(g.tech).capacity_factor)
                   for g in self.onsite)

    def grid_budget_w(self) -> float | None:
        """The facility power the site can draw: interconnect + firm on-site output."""
        return None if self.interconnect is None else self.interconnect + self.firm_onsite_w()
