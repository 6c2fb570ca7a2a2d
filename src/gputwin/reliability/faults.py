"""Fault models by readable name, with typed args and cited default rates.

Each registered kind (``gpu``, ``hbm``, ``nvlink``, ``nic``, ``network``, ``switch``,
``host``, ``software``, ``maintenance`` from ``data/faults.yaml``, and ``straggler``) has a
pydantic ``args`` model; :func:`build` turns a name and args into a :class:`FaultModel` (SI
floats). The scenario's ``failures.models`` section is derived from this registry
(:func:`args_schema`), so a new kind is a new scenario key. Duplicate names are rejected;
unknown names raise :class:`~gputwin.errors.UnknownNameError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from gputwin.errors import InputError, UnknownNameError
from gputwin.quantities import Seconds
from gputwin.yaml_io import load_yaml_with_lines, validation_error_to_input_error

DATA = Path(__file__).parent / "data" / "faults.yaml"
Unit = Literal["gpu", "node", "leaf"]
Blast = Literal["node", "leaf"]
HOUR_S = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaultData(_Strict):
    """One component's row of ``data/faults.yaml`` (every number cites its source)."""

    description: str
    unit: Unit
    blast: Blast
    rate_per_unit_hour: float = Field(ge=0)
    detect_s: float = Field(ge=0)
    repair_s: float = Field(ge=0)
    planned: bool = False
    source: str = Field(min_length=8)
    sources: dict[str, str] = Field(default_factory=dict)


class ComponentArgs(_Strict):
    """Typed args of a component fault model (omitted = the catalog default)."""

    rate_per_unit_hour: float | None = Field(default=None, ge=0)
    rate_scale: float = Field(default=1.0, ge=0, description="Multiplies the rate")
    detect: Seconds | None = Field(default=None, ge=0)
    repair: Seconds | None = Field(default=None, ge=0)


class StragglerArgs(_Strict):
    """A slow node (thermal throttling, degraded link, slow host): a synchronous job that
    spans it runs at ``slowdown`` of its speed for ``duration``."""

    rate_per_unit_hour: float = Field(default=0.0, ge=0, description="Per node-hour")
    slowdown: float = Field(default=0.7, gt=0, le=1, description="Speed while slow")
    duration: Seconds = Field(default=4 * HOUR_S, gt=0)
    detect: Seconds = Field(default=600.0, ge=0, description="Until mitigation may act")


@dataclass(frozen=True, slots=True)
class FaultModel:
    """A resolved fault process: Poisson at ``rate_per_unit_hour`` per ``unit``."""

    name: str
    unit: Unit
    blast: Blast
    rate_per_unit_hour: float
    detect_s: float
    repair_s: float
    planned: bool = False
    slowdown_frac: float = 1.0  # < 1: a straggler (slows jobs, interrupts none)

    @property
    def is_straggler(self) -> bool:
        return self.slowdown_frac < 1.0

    def rate_per_s(self, num_units: int) -> float:
        """Events per second over ``num_units`` components."""
        return self.rate_per_unit_hour * num_units / HOUR_S


@dataclass(frozen=True, slots=True)
class FaultKind:
    """A registry entry: its args model and how args become a :class:`FaultModel`."""

    name: str
    args: type[_Strict]
    description: str
    default_on: bool  # part of the default set when `models` is not given


_REGISTRY: dict[str, FaultKind] = {}


def register(kind: FaultKind) -> None:
    """Add ``kind``; raises ``ValueError`` on a duplicate (a programming error)."""
    if kind.name in _REGISTRY:
        raise ValueError(f"fault model {kind.name!r} is already registered")
    _REGISTRY[kind.name] = kind


@cache
def catalog() -> dict[str, FaultData]:
    """The component rows of ``data/faults.yaml``; raises :class:`InputError` with the line."""
    raw, lines = load_yaml_with_lines(DATA)
    out: dict[str, FaultData] = {}
    for name, row in (raw or {}).get("models", {}).items():
        try:
            out[name] = FaultData.model_validate(row)
        except ValidationError as exc:
            raise validation_error_to_input_error(exc, str(DATA), lines,
                                                  ("models", name)) from None
    return out


@cache
def rates_provenance() -> str:
    """The one-line origin of the default rates (``provenance:`` in ``data/faults.yaml``)."""
    raw, _ = load_yaml_with_lines(DATA)
    text = (raw or {}).get("provenance")
    if not isinstance(text, str) or not text.strip():
        raise InputError("expected a non-empty provenance: line (where the rates come from)",
                         where=str(DATA))
    return text


def rates_used(models: list[FaultModel]) -> dict[str, Any]:
    """Which rates ``models`` use and where they come from (the catalog's provenance line
    and, per model, its unit, rate per unit-hour, ``scale`` against the catalog rate and
    source; a rate that differs from the catalog's says by what factor, one without a
    catalog rate that it was given, with ``scale`` None)."""
    rows = catalog()
    used: dict[str, dict[str, Any]] = {}
    for m in models:
        row = rows.get(m.name)
        factor = None
        if row is None or row.rate_per_unit_hour == 0:
            source = "given (no catalog rate)"
        elif m.rate_per_unit_hour == row.rate_per_unit_hour:
            source, factor = row.source, 1.0
        else:
            factor = m.rate_per_unit_hour / row.rate_per_unit_hour
            source = f"{factor:.4g} x the catalog rate ({row.source})"
        used[m.name] = {"unit": m.unit, "rate_per_unit_hour": m.rate_per_unit_hour,
                        "scale": factor, "planned": m.planned, "source": source}
    return {"catalog": rates_provenance(), "models": used}


def rates_line(rates: dict[str, Any]) -> str:
    """One line for a table: the catalog's provenance and the scale applied to it (one
    factor for all, "scaled per model" otherwise; rates given outright are counted)."""
    models = rates["models"].values()
    scales = {round(m["scale"], 9) for m in models if m["scale"] is not None}
    given = sum(1 for m in models if m["scale"] is None)
    if scales <= {1.0}:
        scaled = ""
    elif len(scales) == 1:
        scaled = f" x {scales.pop():g}"
    else:
        scaled = " (scaled per model)"
    extra = f"; {given} model(s) at given rates" if given else ""
    return f"{rates['catalog']}{scaled}{extra}"


class RestartData(_Strict):
    """Restart costs besides detection (``data/faults.yaml`` ``restart:``)."""

    reschedule_s: float = Field(ge=0)
    warmup_s: float = Field(ge=0)
    checkpoint_storage: str
    serving_start_s: float = Field(ge=0)  # an inference replica's engine start
    hot_swap_s: float = Field(ge=0)  # a job's stall while a hot spare replaces a node
    site_detect_s: float = Field(ge=0)  # a site outage to its requests' retry
    sources: dict[str, str] = Field(default_factory=dict)


@cache
def restart_defaults() -> RestartData:
    """The ``restart:`` section of ``data/faults.yaml``."""
    raw, lines = load_yaml_with_lines(DATA)
    try:
        return RestartData.model_validate((raw or {}).get("restart"))
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(DATA), lines, ("restart",)) from None


def registered() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def lookup(name: str, *, where: str | None = None) -> FaultKind:
    _ensure_builtins()
    kind = _REGISTRY.get(name)
    if kind is None:
        raise UnknownNameError("fault model", name, sorted(_REGISTRY), where=where)
    return kind


def default_names() -> list[str]:
    """Kinds on when a scenario gives ``failures:`` without ``models``."""
    _ensure_builtins()
    return sorted(n for n, k in _REGISTRY.items() if k.default_on)


def build(name: str, args: BaseModel | dict[str, Any] | None = None, *,
          rate_scale: float = 1.0, where: str | None = None) -> FaultModel:
    """The :class:`FaultModel` of ``name`` with ``args`` (a dict is validated here)."""
    kind = lookup(name, where=where)
    if not isinstance(args, BaseModel):
        try:
            args = kind.args.model_validate(args or {})
        except ValidationError as exc:
            raise validation_error_to_input_error(exc, where or f"failures.models.{name}"
                                                  ) from None
    if isinstance(args, StragglerArgs):
        return FaultModel(name, "node", "node", args.rate_per_unit_hour * rate_scale,
                          args.detect, args.duration, slowdown_frac=args.slowdown)
    assert isinstance(args, ComponentArgs)
    row = catalog()[name]
    rate = row.rate_per_unit_hour if args.rate_per_unit_hour is None else args.rate_per_unit_hour
    return FaultModel(
        name, row.unit, row.blast, rate * args.rate_scale * rate_scale,
        row.detect_s if args.detect is None else args.detect,
        row.repair_s if args.repair is None else args.repair, planned=row.planned)


def args_schema() -> type[BaseModel]:
    """A pydantic model with one optional field per registered kind (its args model):
    the scenario's ``failures.models`` section."""
    _ensure_builtins()
    fields: dict[str, Any] = {
        name: (kind.args | None, Field(default=None, description=kind.description))
        for name, kind in sorted(_REGISTRY.items())}
    model: type[BaseModel] = create_model(
        "FaultModelsConfig", __config__=ConfigDict(frozen=True, extra="forbid"), **fields)
    return model


def _ensure_builtins() -> None:
    if _REGISTRY:
        return
    for name, row in catalog().items():
        register(FaultKind(name, ComponentArgs, row.description,
                           default_on=row.rate_per_unit_hour > 0))
    register(FaultKind("straggler", StragglerArgs,
                       "Slow nodes that stretch a synchronous job's steps", default_on=False))
