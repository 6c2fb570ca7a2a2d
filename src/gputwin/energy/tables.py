"""Data tables of the energy package (``energy/data/*.yaml``), typed and validated.

- ``cooling.yaml``: cooling types -- rack power limit, PUE and WUE vs outside temperature;
- ``grid_profiles.yaml``: per region, the fitted synthetic carbon/price shapes and climate;
- ``embodied.yaml``: manufacturing carbon per accelerator and per node (host share);
- ``price_book.yaml``: $/GPU-hour by provider class and pricing, and capex for amortisation;
- ``fx_2023.yaml``: 2023 average exchange rates (units of currency per USD);
- ``facility.yaml``: rack-level items (NVLink switch trays) and site defaults.

Every entry carries a ``source``. Each file is read lazily, once per process; errors name
the file, line and field (:class:`InputError`). Unknown names raise
:class:`UnknownNameError` with close matches.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import load_yaml_with_lines, validation_error_to_input_error

DATA_DIR = Path(__file__).parent / "data"
M = TypeVar("M", bound=BaseModel)


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    source: str = Field(min_length=8)
    notes: str = ""


class CoolingType(_Entry):
    """PUE(T) = min(pue_max, pue_base + pue_slope_per_c * max(0, T - free_cooling_max_c)),
    WUE(T) likewise with ``wue_*`` (litres per kWh of IT energy)."""

    description: str
    max_rack_power_w: float = Field(gt=0)
    pue_base: float = Field(ge=1.0)
    free_cooling_max_c: float
    pue_slope_per_c: float = Field(ge=0)
    pue_max: float = Field(ge=1.0)
    wue_base_l_per_kwh: float = Field(ge=0)
    wue_threshold_c: float
    wue_slope_l_per_kwh_per_c: float = Field(ge=0)
    wue_max_l_per_kwh: float = Field(ge=0)


class Harmonics(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    diurnal: list[tuple[float, float]] = Field(default_factory=list, max_length=2)
    seasonal: list[tuple[float, float]] = Field(default_factory=list, max_length=2)
    sigma_frac: float = Field(default=0.0, ge=0)
    phi: float = Field(default=0.0, ge=0, lt=1)


class CarbonProfile(Harmonics):
    mean_g_per_kwh: float = Field(gt=0)
    lca_ratio: float = Field(ge=1.0)


class PriceProfile(Harmonics):
    mean_usd_per_mwh: float
    market: str
    currency: str
    #: the 2023 prices at profiles.QUANTILE_LEVELS over their mean (empty: harmonics only)
    quantiles: list[float] = Field(default_factory=list)


class ClimateProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mean_c: float
    seasonal_amp_c: float = Field(ge=0)
    warmest_day: float = Field(ge=0, lt=366)
    diurnal_amp_c: float = Field(ge=0)
    utc_offset_h: float = Field(ge=-12, le=14)
    city: str


class RegionProfile(_Entry):
    description: str
    carbon: CarbonProfile
    price: PriceProfile
    climate: ClimateProfile
    grid_water_l_per_kwh: float = Field(default=0.0, ge=0)


class EmbodiedEntry(_Entry):
    """Manufacturing (cradle-to-gate) carbon, kg CO2e, of one accelerator package and of the
    rest of its node per accelerator (host share)."""

    accelerator_kg: float = Field(ge=0)
    host_share_kg: float = Field(ge=0)


class EmbodiedTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    lifetime_years: float = Field(gt=0)
    utilisation_frac: float = Field(gt=0, le=1)
    lifetime_source: str = Field(min_length=8)
    per_tdp_kg_per_w: float = Field(gt=0)
    per_tdp_source: str = Field(min_length=8)
    accelerators: dict[str, EmbodiedEntry]


Provider = Literal["hyperscaler", "neocloud", "marketplace"]
Pricing = Literal["on-demand", "reserved", "spot"]


#: appended to a price basis built on a listing the price book marks ``estimated``
ESTIMATE_NOTE = "; ESTIMATE, no published rate for this part"
#: tables prefix such a price with this mark and end with this footnote
ESTIMATE_MARK = "~"
ESTIMATE_FOOTNOTE = (f"{ESTIMATE_MARK} estimated price: no provider publishes this rate for "
                     "the part (price book `estimated`, energy/data/price_book.yaml)")


class PriceBookEntry(_Entry):
    """$/GPU-hour of one accelerator by provider class and pricing (dated in ``as_of``)."""

    as_of: str
    usd_per_gpu_hour: dict[Provider, dict[Pricing, float]]
    capex_usd_per_gpu: float = Field(gt=0, description="server cost per GPU (GPU + host share)")
    estimated: list[str] | Literal["all"] = Field(
        default_factory=list, description="listings ('provider/pricing', or all) that no "
        "provider publishes for this part: derived by a rule or from another part")

    @model_validator(mode="after")
    def _estimates_are_listings(self) -> PriceBookEntry:
        if self.estimated != "all":
            listed = {f"{p}/{q}" for p, qs in self.usd_per_gpu_hour.items() for q in qs}
            unknown = sorted(set(self.estimated) - listed)
            if unknown:
                raise ValueError(f"estimated names {', '.join(unknown)}, not listed "
                                 f"(listed: {', '.join(sorted(listed))})")
        return self

    def is_estimated(self, provider: str, pricing: str) -> bool:
        """True when the ``provider``/``pricing`` figure is an estimate, not a listing."""
        return self.estimated == "all" or f"{provider}/{pricing}" in self.estimated


class PriceBook(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    capex_lifetime_years: float = Field(gt=0)
    capex_source: str = Field(min_length=8)
    accelerators: dict[str, PriceBookEntry]


class FacilityTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rack_overhead_w: dict[str, float]
    rack_overhead_source: str = Field(min_length=8)
    nodes_per_rack: dict[str, int]
    nodes_per_rack_source: str = Field(min_length=8)


class FxTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    per_usd: dict[str, float]
    aliases: dict[str, str] = Field(default_factory=dict)
    source: str = Field(min_length=8)


def _load(name: str, schema: type[M], key: str | None = None) -> Any:
    path = DATA_DIR / name
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise InputError("expected a mapping", where=str(path))
    raw = data if key is None else data.get(key)
    try:
        if key is None:
            return schema.model_validate(raw)
        if not isinstance(raw, dict):
            raise InputError(f"expected a mapping under `{key}`", where=str(path))
        return {k: _one(schema, v, str(path), lines, (key, k)) for k, v in raw.items()}
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path), lines) from None


def _one(schema: type[M], raw: Any, where: str, lines: Any, prefix: tuple[str, str]) -> M:
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, where, lines, prefix=prefix) from None


class EnergyTables:
    """Lazy accessors over the bundled tables (one instance per process)."""

    @functools.cached_property
    def cooling(self) -> dict[str, CoolingType]:
        table: dict[str, CoolingType] = _load("cooling.yaml", CoolingType, "cooling")
        return table

    @functools.cached_property
    def regions(self) -> dict[str, RegionProfile]:
        table: dict[str, RegionProfile] = _load("grid_profiles.yaml", RegionProfile, "regions")
        return table

    @functools.cached_property
    def embodied(self) -> EmbodiedTable:
        table: EmbodiedTable = _load("embodied.yaml", EmbodiedTable)
        return table

    @functools.cached_property
    def price_book(self) -> PriceBook:
        table: PriceBook = _load("price_book.yaml", PriceBook)
        return table

    @functools.cached_property
    def facility(self) -> FacilityTable:
        table: FacilityTable = _load("facility.yaml", FacilityTable)
        return table

    @functools.cached_property
    def fx_per_usd(self) -> dict[str, float]:
        """Units of currency per USD; aliases (e.g. ``R$`` -> ``BRL``) included."""
        fx: FxTable = _load("fx_2023.yaml", FxTable)
        out = dict(fx.per_usd)
        out.update({alias: fx.per_usd[target] for alias, target in fx.aliases.items()})
        return out

    def cooling_type(self, name: str) -> CoolingType:
        return _lookup(self.cooling, "cooling type", name)

    def region(self, name: str, *, where: str | None = None) -> RegionProfile:
        """The grid region ``name``; an unknown one is reported at ``where`` (a flag)."""
        return _lookup(self.regions, "region", name, where)


def _lookup(table: dict[str, M], kind: str, name: str, where: str | None = None) -> M:
    try:
        return table[name]
    except KeyError:
        raise UnknownNameError(kind, name, list(table), where=where) from None


@functools.cache
def default_tables() -> EnergyTables:
    return EnergyTables()
