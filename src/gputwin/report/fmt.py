"""Human formatting for the report: durations, counts, percentages, time-axis units.

Everything here turns SI floats into display strings; nothing parses input. ``None`` (a
quantity that does not exist, e.g. the p95 JCT of a run where nothing completed) is shown as
an em dash rather than a misleading zero.
"""

from __future__ import annotations

import math

from gputwin.units import format_duration

MISSING = "—"

# (label, seconds per unit), smallest first; chosen so a horizon reads as 1.5–150 units.
_AXIS_UNITS: tuple[tuple[str, float], ...] = (
    ("s", 1.0),
    ("min", 60.0),
    ("h", 3600.0),
    ("d", 86400.0),
)


def fmt_duration(seconds: float | None) -> str:
    """``None``/non-finite → ``—``; otherwise ``42.0 s``, ``3.2 h``, ``12.5 d``."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0 s"
    return format_duration(seconds)


def fmt_count(value: float | None) -> str:
    """Integers with thousands separators; large floats with SI-ish suffixes."""
    if value is None or not math.isfinite(value):
        return MISSING
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_sim_time(seconds: float | None) -> str:
    """A point in simulated time as ``day 2 14:05:09`` (day 0 starts at t = 0)."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}day {days} {hours:02d}:{minutes:02d}:{secs:02d}"


def fmt_pct(frac: float | None) -> str:
    """A fraction in [0, 1] as ``73.4 %``."""
    if frac is None or not math.isfinite(frac):
        return MISSING
    return f"{frac * 100:.1f} %"


def fmt_energy(energy_j: float | None) -> str:
    """Joules as MWh (or kWh below 1 MWh)."""
    if energy_j is None or not math.isfinite(energy_j):
        return MISSING
    mwh = energy_j / 3.6e9
    if abs(mwh) >= 100.0:
        return f"{mwh:,.0f} MWh"
    if abs(mwh) >= 1.0:
        return f"{mwh:,.2f} MWh"
    return f"{energy_j / 3.6e6:,.1f} kWh"


def fmt_value(value: object) -> str:
    """Generic display of a summary value (numbers compact, everything else ``str``)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.6g}"
    return str(value)


def axis_unit(span_s: float) -> tuple[str, float]:
    """Pick the time unit for an axis covering ``span_s`` seconds: ``(label, seconds)``.

    The largest unit in which the span is at least 1.5 units, so a 3-day run is plotted
    in hours and a 30-day run in days.
    """
    chosen = _AXIS_UNITS[0]
    for label, scale in _AXIS_UNITS:
        if span_s >= 1.5 * scale:
            chosen = (label, scale)
    if chosen[0] == "d" and span_s < 3 * 86400:
        return ("h", 3600.0)
    return chosen


# Tick marks for logarithmic time axes, in seconds, with their human labels.
_LOG_TICKS: tuple[tuple[float, str], ...] = (
    (1.0, "1 s"), (10.0, "10 s"), (60.0, "1 min"), (600.0, "10 min"), (3600.0, "1 h"),
    (6 * 3600.0, "6 h"), (86400.0, "1 d"), (7 * 86400.0, "1 w"), (30 * 86400.0, "30 d"),
    (365 * 86400.0, "1 y"),
)


def time_axis(values_s: list[float], title: str) -> tuple[float, dict[str, object]]:
    """A plotly axis for durations ``values_s``: ``(seconds per plotted unit, axis dict)``.

    Logarithmic (plotted in seconds, ticks labelled ``1 min``, ``1 h``, ``1 d`` …) when all
    values are positive and span more than a factor 100; otherwise linear in the unit
    :func:`axis_unit` picks for the largest value, named in the title.
    """
    finite = [v for v in values_s if math.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) > 100 * min(finite):
        lo, hi = min(finite) / 2, max(finite) * 2
        ticks = [(v, label) for v, label in _LOG_TICKS if lo <= v <= hi]
        return 1.0, {
            "title": {"text": f"{title}, log scale"}, "type": "log",
            "tickvals": [v for v, _ in ticks], "ticktext": [label for _, label in ticks],
        }
    label, scale = axis_unit(max(finite, default=0.0))
    return scale, {"title": {"text": f"{title} ({label})"}, "rangemode": "tozero"}
