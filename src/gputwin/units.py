"""Parsing of human quantities at the edges (YAML, CLI).

Inside gputwin every quantity is a plain float in SI units (bytes, seconds, bytes/s,
FLOP/s, watts). Strings like ``"80GiB"``, ``"3.35TB/s"``, ``"400Gbps"`` or ``"2h"`` are
converted here and nowhere else.

Conventions: decimal prefixes (k, M, G, T, P) are powers of 1000, binary prefixes (Ki,
Mi, Gi, Ti, Pi) powers of 1024. ``B`` is a byte, ``b`` a bit. ``bps``/``b/s`` is bits per
second, ``B/s`` or ``Bps`` bytes per second.
"""

from __future__ import annotations

import math
import re

from gputwin.errors import InputError

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}

_NUM = r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_QTY = re.compile(_NUM + r"\s*(?P<prefix>Ki|Mi|Gi|Ti|Pi|[kKMGTPE]?)(?P<unit>[A-Za-z/%]*)\s*$")

_DURATION_S = {
    "": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9,
    "min": 60.0, "m": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0, "day": 86400.0,
    "days": 86400.0, "w": 604800.0,
}


def _split(text: str, what: str) -> tuple[float, float, str]:
    m = _QTY.match(text.strip())
    if not m:
        raise InputError(f"expected {what}, got {text!r}")
    prefix = m.group("prefix")
    scale = _BINARY.get(prefix, _DECIMAL.get(prefix, 1.0))
    return float(m.group("num")), scale, m.group("unit")


def _finite_non_negative(value: float, text: object, what: str, *,
                         positive: bool = False) -> float:
    """``value`` if finite and >= 0 (> 0 when ``positive``), else the error saying which."""
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise InputError(f"expected a {'positive' if positive else 'non-negative'} {what}, "
                         f"got {text!r}")
    return value


def parse_bytes(value: str | float | int) -> float:
    """``"80GiB"`` → 85899345920.0; plain numbers are bytes. ``"1Gb"`` is a gigabit."""
    if isinstance(value, bool):
        raise InputError(f"expected a size in bytes, got {value!r}")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), value, "size in bytes")
    num, scale, unit = _split(value, "a size such as '80GiB' or '1.5TB'")
    if unit in ("B", ""):
        factor = 1.0
    elif unit == "b":
        factor = 0.125
    else:
        raise InputError(f"expected a size such as '80GiB' or '1.5TB', got {value!r}")
    return _finite_non_negative(num * scale * factor, value, "size in bytes")


def parse_bandwidth(value: str | float | int) -> float:
    """Return bytes per second. ``"400Gbps"`` → 5e10, ``"3.35TB/s"`` → 3.35e12."""
    if isinstance(value, bool):
        raise InputError(f"expected a bandwidth, got {value!r}")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), value, "bandwidth in bytes/s")
    num, scale, unit = _split(value, "a bandwidth such as '400Gbps' or '900GB/s'")
    if unit in ("B/s", "Bps", "Bs"):
        factor = 1.0
    elif unit in ("b/s", "bps", "bit/s"):
        factor = 0.125
    else:
        raise InputError(f"expected a bandwidth such as '400Gbps' or '900GB/s', got {value!r}")
    return _finite_non_negative(num * scale * factor, value, "bandwidth")


def parse_flops(value: str | float | int) -> float:
    """Return FLOP/s. ``"989TFLOPS"`` or ``"989T"`` → 9.89e14."""
    if isinstance(value, bool):
        raise InputError(f"expected a FLOP rate, got {value!r}")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), value, "FLOP/s")
    num, scale, unit = _split(value, "a FLOP rate such as '989TFLOPS'")
    if unit not in ("", "FLOPS", "FLOP/s", "flops", "flop/s", "OPS", "ops", "TOPS"):
        raise InputError(f"expected a FLOP rate such as '989TFLOPS', got {value!r}")
    return _finite_non_negative(num * scale, value, "FLOP/s")


def parse_duration(value: str | float | int) -> float:
    """Return seconds. ``"2h"`` → 7200.0, ``"150ms"`` → 0.15; plain numbers are seconds."""
    if isinstance(value, bool):
        raise InputError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), value, "duration in seconds")
    m = re.match(_NUM + r"\s*(?P<unit>[a-z]*)\s*$", value.strip())
    if not m or m.group("unit") not in _DURATION_S:
        raise InputError(f"expected a duration such as '90s', '15min' or '2h', got {value!r}")
    return _finite_non_negative(
        float(m.group("num")) * _DURATION_S[m.group("unit")], value, "duration"
    )


def parse_power(value: str | float | int) -> float:
    """Return watts. ``"10.2kW"`` → 10200.0."""
    if isinstance(value, bool):
        raise InputError(f"expected a power, got {value!r}")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), value, "power in watts")
    num, scale, unit = _split(value, "a power such as '700W' or '10.2kW'")
    if unit not in ("W", ""):
        raise InputError(f"expected a power such as '700W' or '10.2kW', got {value!r}")
    return _finite_non_negative(num * scale, value, "power")


def parse_energy(value: str | float | int) -> float:
    """Return joules. ``"400MWh"`` → 1.44e12, ``"5kJ"`` → 5000.0; plain numbers are joules."""
    if isinstance(value, bool):
        raise InputError(f"expected an energy, got {value!r}")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), value, "energy in joules")
    num, scale, unit = _split(value, "an energy such as '400MWh' or '5kJ'")
    factors = {"Wh": 3600.0, "J": 1.0, "": 1.0}
    if unit not in factors:
        raise InputError(f"expected an energy such as '400MWh' or '5kJ', got {value!r}")
    return _finite_non_negative(num * scale * factors[unit], value, "energy")


def parse_count(value: str | float | int, *, positive: bool = False) -> float:
    """Return a plain number; ``"1.2T"`` tokens → 1.2e12, ``"175B"`` params → 1.75e11.
    ``positive``: 0 is refused too (``expected a positive number``)."""
    if isinstance(value, bool):
        raise InputError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return _finite_non_negative(float(value), value, "number", positive=positive)
    text = value.strip().replace("_", "").replace(",", "")
    m = re.match(_NUM + r"\s*(?P<suffix>[kKMBGT]?)\s*$", text)
    if not m:
        raise InputError(f"expected a number such as '2e12', '1.2T' or '175B', got {value!r}")
    scale = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
    return _finite_non_negative(float(m.group("num")) * scale[m.group("suffix")], value, "number",
                                positive=positive)


def parse_positive_count(value: str | float | int) -> float:
    """:func:`parse_count` of a number that must be > 0 (tokens to train on, per day)."""
    return parse_count(value, positive=True)


def format_bytes(num_bytes: float) -> str:
    """Human string with binary prefixes, e.g. ``79.6 GiB``."""
    for unit, scale in (("PiB", 2.0**50), ("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20),
                        ("KiB", 2.0**10)):
        if abs(num_bytes) >= scale:
            return f"{num_bytes / scale:.1f} {unit}"
    return f"{num_bytes:.0f} B"


def format_duration(seconds: float) -> str:
    """Human string: ``512 ms``, ``42.0 s``, ``3.2 h``, ``12.5 d``."""
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} d"


def format_energy(joules: float) -> str:
    """Human string in watt-hours: ``850 Wh``, ``12.4 kWh``, ``3.21 MWh``, ``1.05 GWh``."""
    wh = joules / 3600.0
    for unit, scale in (("GWh", 1e9), ("MWh", 1e6), ("kWh", 1e3)):
        if abs(wh) >= scale:
            return f"{wh / scale:,.3g} {unit}" if wh / scale < 1000 else \
                f"{wh / scale:,.0f} {unit}"
    return f"{wh:,.3g} Wh"


def format_grams(grams: float) -> str:
    """A mass in grams as ``12.3 g``, ``4.56 kg`` or ``7.89 t``."""
    if abs(grams) >= 1e6:
        return f"{grams / 1e6:,.2f} t"
    if abs(grams) >= 1e3:
        return f"{grams / 1e3:,.2f} kg"
    return f"{grams:,.1f} g"
