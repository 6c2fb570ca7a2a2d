"""Coefficients of the serving step-time model, read from ``serving_calibration.yaml``.

A user calibration file (written by ``gputwin calibrate``) has the same shape and may set
any subset of keys; :func:`load_serving_calibration` overlays it on the bundled defaults.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gputwin.errors import InputError
from gputwin.yaml_io import load_yaml_with_lines

SERVING_CALIBRATION_PATH = Path(__file__).with_name("serving_calibration.yaml")

#: Per-accelerator coefficients (fitted per GPU family).
ACCEL_KEYS = ("compute_eff_mult", "bandwidth_frac")
#: Per-accelerator coefficients a family may set; unset, the global value applies.
OPTIONAL_ACCEL_KEYS = ("moe_width_half",)
#: Per-engine host overheads (override the global ones for that engine); the step overhead
#: may also be given per accelerator vendor as ``step_overhead_s.<vendor>``.
ENGINE_KEYS = ("step_overhead_s", "per_seq_overhead_s")
#: Global coefficients.
GLOBAL_KEYS = (
    "step_overhead_s", "per_seq_overhead_s", "layer_overhead_s", "attention_eff_mult",
    "gemm_half_tokens", "tp_comm_mult", "int4_dequant_compute_mult",
    "runtime_overhead_bytes", "activation_peak_mult", "moe_width_half",
    "weight_only_expert_half_rows", "masked_expert_exposed_read_frac",
)


@dataclass(frozen=True, slots=True)
class ServingAccelCoefficients:
    """Efficiency of one accelerator family (both in (0, 1.5]); ``moe_width_half``: the
    family's own narrow-expert half-width in columns (``None``: the global one)."""

    family: str
    compute_eff_mult: float
    bandwidth_frac: float
    moe_width_half: float | None = None


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: usable as a cache key
class ServingCalibration:
    """All serving coefficients (see serving_calibration.yaml for meaning and sources)."""

    accelerators: dict[str, ServingAccelCoefficients]
    step_overhead_s: float
    per_seq_overhead_s: float
    layer_overhead_s: float
    attention_eff_mult: float
    gemm_half_tokens: float
    tp_comm_mult: float
    int4_dequant_compute_mult: float
    runtime_overhead_bytes: float
    activation_peak_mult: float
    moe_width_half: float
    weight_only_expert_half_rows: float
    masked_expert_exposed_read_frac: float
    origin: str = ""
    engines: dict[str, dict[str, float]] = field(default_factory=dict)

    def for_accelerator(self, name: str) -> ServingAccelCoefficients:
        """Coefficients of the family whose key is the longest prefix of ``name``."""
        best = ""
        for key in self.accelerators:
            if key != "default" and name.startswith(key) and len(key) > len(best):
                best = key
        return self.accelerators[best or "default"]

    def moe_width_half_for(self, name: str) -> float:
        """Narrow-expert half-width (columns) on accelerator ``name``: its family's own
        value where the file sets one, else the global ``moe_width_half``."""
        own = self.for_accelerator(name).moe_width_half
        return self.moe_width_half if own is None else own

    def host_overheads(self, engine: str, vendor: str | None = None) -> tuple[float, float]:
        """(per-step, per-sequence) host seconds of ``engine`` on ``vendor``'s parts (the
        engine's vendor-wide step time where it has one for the vendor; global values
        if unlisted)."""
        e = self.engines.get(engine, {})
        step = e.get("step_overhead_s", self.step_overhead_s)
        if vendor is not None:
            step = e.get(f"step_overhead_s.{vendor.lower()}", step)
        return step, e.get("per_seq_overhead_s", self.per_seq_overhead_s)

    def as_mapping(self) -> dict[str, Any]:
        """Plain data in the YAML file's shape (without sources)."""
        out: dict[str, Any] = {"accelerators": {
            k: {"compute_eff_mult": v.compute_eff_mult, "bandwidth_frac": v.bandwidth_frac,
                **({} if v.moe_width_half is None else {"moe_width_half": v.moe_width_half})}
            for k, v in self.accelerators.items()},
            "engines": {k: dict(v) for k, v in self.engines.items()}}
        for f in fields(self):
            if f.name in GLOBAL_KEYS:
                out[f.name] = getattr(self, f.name)
        return out


def _float(raw: Any, key: str, where: str, *, low: float = 0.0, high: float = 1e12) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{key}: expected a number, got {raw!r}", where=where) from None
    if not low <= value <= high:
        raise InputError(f"{key}: {value} outside [{low}, {high}]", where=where)
    return value


def _accelerators(raw: Any, base: dict[str, ServingAccelCoefficients], where: str,
                  ) -> dict[str, ServingAccelCoefficients]:
    if raw is None:
        return dict(base)
    if not isinstance(raw, dict):
        raise InputError("accelerators: expected a mapping of family -> coefficients",
                         where=where)
    out = dict(base)
    for family, entry in raw.items():
        if not isinstance(entry, dict):
            raise InputError(f"accelerators.{family}: expected a mapping", where=where)
        unknown = sorted(set(entry) - {*ACCEL_KEYS, *OPTIONAL_ACCEL_KEYS, "source"})
        if unknown:
            raise InputError(f"accelerators.{family}: unknown key(s) {', '.join(unknown)}",
                             where=where)
        prev = out.get(str(family)) or out.get("default")
        vals = {k: _float(entry[k], f"accelerators.{family}.{k}", where, low=1e-3, high=1.5)
                for k in ACCEL_KEYS if k in entry}
        if prev is None and len(vals) < len(ACCEL_KEYS):
            raise InputError(f"accelerators.{family}: needs {', '.join(ACCEL_KEYS)}",
                             where=where)
        merged = {k: vals[k] if k in vals else getattr(prev, k) for k in ACCEL_KEYS}
        own = out.get(str(family))  # an overlay keeps the family's own optional values
        width = (_float(entry["moe_width_half"], f"accelerators.{family}.moe_width_half",
                        where, low=1.0) if "moe_width_half" in entry
                 else own.moe_width_half if own is not None else None)
        out[str(family)] = ServingAccelCoefficients(str(family), **merged,
                                                    moe_width_half=width)
    return out


def _engines(raw: Any, base: dict[str, dict[str, float]], where: str,
             ) -> dict[str, dict[str, float]]:
    out = {k: dict(v) for k, v in base.items()}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        raise InputError("engines: expected a mapping of engine -> host overheads", where=where)
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise InputError(f"engines.{name}: expected a mapping", where=where)
        unknown = sorted(k for k in entry
                         if k not in (*ENGINE_KEYS, "source") and not _vendor_step_key(k))
        if unknown:
            raise InputError(f"engines.{name}: unknown key(s) {', '.join(map(str, unknown))}",
                             where=where)
        vals = {str(k): _float(entry[k], f"engines.{name}.{k}", where, high=1.0)
                for k in entry if k in ENGINE_KEYS or _vendor_step_key(k)}
        out[str(name)] = _overlay_host(out.get(str(name), {}), vals)
    return out


def _vendor_step_key(key: Any) -> bool:
    """``step_overhead_s.<vendor>``: an engine's step time on one vendor's parts."""
    if not isinstance(key, str):
        return False
    figure, dot, vendor = key.partition(".")
    return figure == "step_overhead_s" and bool(dot) and bool(vendor)


def _overlay_host(prev: dict[str, float], own: dict[str, float]) -> dict[str, float]:
    """An engine's host figures ``prev`` with ``own`` laid over them: a step time given for
    the engine holds on every vendor (it replaces the per-vendor ones it does not name)."""
    if "step_overhead_s" in own:
        prev = {k: v for k, v in prev.items() if not _vendor_step_key(k)}
    return {**prev, **own}


def parse_serving_calibration(data: Any, where: str,
                              base: ServingCalibration | None = None) -> ServingCalibration:
    """Build a calibration from parsed YAML, overlaying ``base`` (all keys needed if None)."""
    if not isinstance(data, dict):
        raise InputError("expected a mapping of coefficients", where=where)
    known = {*GLOBAL_KEYS, "accelerators", "engines"}
    unknown = sorted(k for k in data if k not in known and not str(k).endswith("source")
                     and k not in ("fit", "notes"))
    if unknown:
        raise InputError(f"unknown coefficient(s) {', '.join(map(str, unknown))}; expected "
                         f"{', '.join(sorted(known))}", where=where)
    accels = _accelerators(data.get("accelerators"), base.accelerators if base else {}, where)
    if "default" not in accels:
        raise InputError("accelerators: needs a `default` entry", where=where)
    values: dict[str, float] = {}
    for key in GLOBAL_KEYS:
        if key in data:
            values[key] = _float(data[key], key, where)
        elif base is not None:
            values[key] = getattr(base, key)
        else:
            raise InputError(f"missing coefficient {key!r}", where=where)
    engines = _engines(data.get("engines"), base.engines if base else {}, where)
    return ServingCalibration(accelerators=accels, origin=where, engines=engines, **values)


def load_serving_calibration(path: str | Path | None = None) -> ServingCalibration:
    """The bundled coefficients, overlaid with the file at ``path`` when given.

    Raises :class:`InputError` naming the file and the bad key.
    """
    if path is None:
        return default_serving_calibration()
    data, _ = load_yaml_with_lines(Path(path))
    return parse_serving_calibration(data, str(path), base=default_serving_calibration())


@functools.cache
def default_serving_calibration() -> ServingCalibration:
    """The bundled calibration (read once per process).

    Per-engine host overheads come from the engine profiles (perf/engines.yaml) unless
    the calibration file's ``engines:`` section sets them."""
    from gputwin.perf.engines import engine_names

    data, _ = load_yaml_with_lines(SERVING_CALIBRATION_PATH)
    cal = parse_serving_calibration(data, str(SERVING_CALIBRATION_PATH))
    engines = {name: _profile_host(name) for name in engine_names()}
    for name, own in cal.engines.items():  # the file's engines section wins
        engines[name] = _overlay_host(engines.get(name, {}), own)
    return replace(cal, engines=engines)


def _profile_host(name: str) -> dict[str, float]:
    from gputwin.perf.engines import engine_profile

    prof = engine_profile(name)
    return {"step_overhead_s": prof.step_overhead_s,
            "per_seq_overhead_s": prof.per_seq_overhead_s,
            **{f"step_overhead_s.{v}": s for v, s in prof.vendor_step_overhead_s.items()}}
