"""Power and carbon section of the HTML report (runs with a scenario ``site:``).

Cards: facility energy (MWh), CO2e (t, operational + embodied), water (m³), cost ($) and
$ per busy GPU-hour. Figures (hourly, from ``SimulationResult.energy["timeline"]``): IT and
facility power; carbon intensity of the grid with the cluster's emission rate on a second
axis; cumulative CO2e and cumulative cost. :func:`energy_section` returns ``("", False)``
for runs without energy data, so the report is unchanged for them.
"""

from __future__ import annotations

import html
import math
from typing import Any

from gputwin.report.downsample import DEFAULT_MAX_POINTS
from gputwin.report.fmt import axis_unit, fmt_count, fmt_energy
from gputwin.report.page import figure_html, note_html
from gputwin.run.results import SimulationResult
from gputwin.units import format_grams

Figure = dict[str, Any]
_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


def _r(x: float) -> float:
    return float(f"{x:.6g}") if math.isfinite(x) else 0.0


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": html.escape(title), "x": 0.01, "xanchor": "left", "y": 0.98,
                  "yanchor": "top", "yref": "container"},
        "xaxis": {"title": {"text": x_title}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "margin": {"l": 60, "r": 60, "t": 78, "b": 50}, "height": 380,
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1,
                   "xanchor": "right"},
        "hovermode": "x unified", "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff",
    }
    layout.update(extra)
    return layout


def _thin(n: int, cap: int) -> list[int]:
    """Indices keeping at most ``cap`` of ``n`` hourly points (evenly; last kept)."""
    if n <= cap:
        return list(range(n))
    step = math.ceil(n / cap)
    idx = list(range(0, n, step))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return idx


def _line(x: list[float], y: list[float], name: str, color: str, **extra: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {"type": "scatter", "mode": "lines", "name": name,
                             "line": {"color": color, "width": 1.5, "shape": "hv"},
                             "x": x, "y": [_r(v) for v in y]}
    trace.update(extra)
    return trace


def energy_figures(result: SimulationResult,
                   max_points: int = DEFAULT_MAX_POINTS) -> list[tuple[str, Figure]]:
    """The section's figures as ``(div id, figure)``; empty without a timeline."""
    tl = (result.energy or {}).get("timeline") or {}
    t = tl.get("time_s") or []
    if not t:
        return []
    idx = _thin(len(t), max_points)
    label, scale = axis_unit(result.end_time_s)
    x = [_r(t[i] / scale) for i in idx]

    def col(key: str, factor: float = 1.0) -> list[float]:
        return [tl[key][i] * factor for i in idx]

    x_title = f"simulated time ({label})"
    power = {"data": [_line(x, col("it_power_w", 1e-3), "IT", _BLUE),
                      _line(x, col("facility_power_w", 1e-3), "facility (IT × PUE)", _ORANGE)],
             "layout": _layout("Power (hourly mean)", x_title, "kW")}
    carbon = {"data": [_line(x, col("carbon_intensity_g_per_kwh"), "grid intensity", _GREY),
                       _line(x, col("emission_rate_g_per_h", 1e-3), "cluster emissions",
                             _RED, yaxis="y2")],
              "layout": _layout("Carbon intensity and the cluster's emission rate", x_title,
                                "g CO2e / kWh",
                                yaxis2={"title": {"text": "kg CO2e / h"}, "overlaying": "y",
                                        "side": "right", "rangemode": "tozero"})}
    cum = {"data": [_line(x, col("co2e_cumulative_g", 1e-6), "CO2e (operational + embodied)",
                          _GREEN),
                    _line(x, col("cost_cumulative_usd", 1e-3), "cost", _BLUE, yaxis="y2")],
           "layout": _layout("Cumulative CO2e and cost", x_title, "t CO2e",
                             yaxis2={"title": {"text": "k$"}, "overlaying": "y",
                                     "side": "right", "rangemode": "tozero"})}
    return [("fig-power", power), ("fig-carbon", carbon), ("fig-cumulative", cum)]


def energy_cards(result: SimulationResult) -> list[tuple[str, str, str]]:
    """``(label, value, sub)`` cards; empty without energy data."""
    s = result.summary
    if s.get("energy_facility_j") is None:
        return []
    site = s.get("site") or {}
    co2 = (s["co2e_operational_g"] or 0.0) + (s["co2e_embodied_g"] or 0.0)
    pue = site.get("pue")
    per_h = site.get("cost_usd_per_gpu_hour")
    intensity = site.get("carbon_intensity_mean_g_per_kwh")
    return [
        ("facility energy", fmt_energy(s["energy_facility_j"]),
         f"IT {fmt_energy(s['energy_it_j'])}" + (f", PUE {pue:.3f}" if pue else "")),
        ("CO2e", f"{co2 / 1e6:,.2f} t",
         f"operational {s['co2e_operational_g'] / 1e6:,.2f} t, embodied "
         f"{s['co2e_embodied_g'] / 1e6:,.2f} t"),
        ("water", f"{s['water_l'] / 1e3:,.1f} m³",
         "on-site cooling + grid upstream" if site.get("include_grid_water")
         else "on-site cooling"),
        ("cost", f"${fmt_count(round(s['cost_usd']))}",
         f"energy ${fmt_count(round(s['cost_energy_usd']))}"),
        ("$ / GPU-hour", "-" if per_h is None else f"${per_h:,.2f}", "per busy GPU-hour"),
        ("grid intensity", "-" if intensity is None else f"{intensity:,.0f} g/kWh",
         f"{site.get('region', '')}, energy-weighted"),
        *_supply_cards(site.get("supply")),
    ]


def _supply_cards(sup: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """Cards of the site's power supply (``site.power_supply``), none without one."""
    if not sup:
        return []
    cards = [
        ("24/7 CFE", f"{sup['cfe_score_frac']:.0%}",
         f"hourly matched; annual match {sup['annual_match_frac']:.0%}"),
        ("CO2e market-based", f"{sup['co2e_market_hourly_g'] / 1e6:,.2f} t",
         f"location-based {sup['co2e_location_g'] / 1e6:,.2f} t (on-site "
         f"{sup['co2e_onsite_g'] / 1e6:,.2f} t)"),
        ("supplied energy cost", f"${fmt_count(round(sup['cost_energy_usd']))}",
         f"grid ${fmt_count(round(sup['cost_grid_usd']))}, PPAs "
         f"${fmt_count(round(sup['cost_ppa_usd']))}, on-site "
         f"${fmt_count(round(sup['cost_onsite_usd']))}"),
    ]
    if sup["unserved_j"] > 0 or sup.get("interconnect_w"):
        cards.append(("above the interconnect", fmt_energy(sup["unserved_j"]),
                      f"in {sup['hours_at_interconnect_limit']:.0f} h"))
    return cards


def energy_section(result: SimulationResult,
                   max_points: int = DEFAULT_MAX_POINTS) -> tuple[str, bool]:
    """The section's HTML and whether it drew a figure (``("", False)`` without data)."""
    cards = energy_cards(result)
    if not cards:
        return "", False
    site = result.summary.get("site") or {}
    card_html = "".join(
        f'<div class="card"><div class="label">{html.escape(lab)}</div>'
        f'<div class="value">{html.escape(val)}</div><div class="sub">{html.escape(sub)}'
        "</div></div>" for lab, val, sub in cards)
    figs = energy_figures(result, max_points)
    panels = "".join(figure_html(div, fig) for div, fig in figs)
    note = note_html(
        f"{site.get('region', '')} grid ({site.get('grid_origin', '')}), "
        f"{site.get('cooling', '')} cooling, {site.get('nodes_per_rack', '')} nodes per rack; "
        f"cost basis: {site.get('cost_basis', '')}; embodied carbon: "
        f"{site.get('embodied_basis', '')}. Idle GPUs and hosts are counted at idle "
        "power; carbon is location-based unless a power supply is shown (docs/energy.md).")
    body = (f'<div class="cards">{card_html}</div>'
            + (f'<div class="grid2">{panels}</div>' if panels else "") + note)
    return (f'<section id="power-carbon"><h2>Power and carbon</h2>{body}</section>',
            bool(figs))


def energy_cli_line(summary: dict[str, Any]) -> str | None:
    """One line for the CLI table: facility MWh, t CO2e, m³ water, $ (None without data)."""
    if summary.get("energy_facility_j") is None:
        return None
    co2 = (summary["co2e_operational_g"] or 0.0) + (summary["co2e_embodied_g"] or 0.0)
    site = summary.get("site") or {}
    return (f"{fmt_energy(summary['energy_facility_j'])} facility, {co2 / 1e6:,.1f} t CO2e, "
            f"{summary['water_l'] / 1e3:,.1f} m³ water, ${summary['cost_usd']:,.0f} "
            f"({site.get('region', '')}, {site.get('cooling', '')})")


def supply_cli_line(supply: dict[str, Any] | None) -> str | None:
    """One line for the CLI: CFE score, location vs market carbon, energy cost, shortfall."""
    if not supply:
        return None
    line = (f"24/7 CFE {supply['cfe_score_frac']:.0%}; CO2e location-based "
            f"{format_grams(supply['co2e_location_g'])}, market-based "
            f"{format_grams(supply['co2e_market_hourly_g'])}; energy "
            f"${supply['cost_energy_usd']:,.2f}")
    if supply.get("cost_usd") is not None:
        line += f" (run ${supply['cost_usd']:,.2f})"
    if supply["unserved_j"] > 0:
        line += (f"; {supply['unserved_j'] / 3.6e6:,.1f} kWh above the interconnect in "
                 f"{supply['hours_at_interconnect_limit']:.0f} h")
    return line
