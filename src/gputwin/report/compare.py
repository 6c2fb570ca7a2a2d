"""The self-contained HTML page of a comparison (``compare.html``) and the cell formatting
shared with the CLI table.

Layout: header (scenario, seeds, note), the side-by-side table (mean ± 95 % CI per variant;
difference vs the baseline with a significance marker), one bar chart per metric with CI
error bars, the JCT CDF per variant (completed jobs, pooled over seeds) and the GPU
allocation over time per variant (the run at the first seed). plotly.js is embedded once,
inline; the page is a pure function of the :class:`Comparison` (fixed ids, sorted JSON).
"""

from __future__ import annotations

import html
import math

from gputwin import __version__
from gputwin.report.downsample import prepare_step
from gputwin.report.figures import PALETTE
from gputwin.report.fmt import MISSING, axis_unit, fmt_count, fmt_duration, time_axis
from gputwin.report.page import CSS, figure_html, note_html
from gputwin.run.compare import Comparison
from gputwin.run.compare_metrics import Metric
from gputwin.run.compare_stats import Difference, Estimate

MAX_CDF_POINTS = 2_000
MAX_TIMELINE_POINTS = 5_000

EXTRA_CSS = """
.grid3 { display:grid; grid-template-columns:repeat(auto-fit,minmax(400px,1fr)); gap:12px; }
td.better { color:#2ca02c; } td.worse { color:#d62728; }
.cmpwrap { overflow:auto; margin-bottom:8px; border:1px solid var(--line); border-radius:8px;
           background:var(--card); }
.cmpwrap table { margin:0; border:0; }
table.cmp td { white-space:nowrap; } table.cmp td .d { display:block; font-size:12px; }
"""


# -- formatting (also used by the CLI) ------------------------------------------------------


def fmt_metric(value: float | None, unit: str) -> str:
    """One value in the metric's display unit (``—`` when missing)."""
    if value is None or not math.isfinite(value):
        return MISSING
    if unit == "s":
        return fmt_duration(value)
    if unit == "frac":
        return f"{value * 100:.1f} %"
    if unit == "gpu_h":
        return f"{value:,.1f} GPU-h" if abs(value) < 100 else f"{value:,.0f} GPU-h"
    if unit == "ratio":
        return f"{value:.3g}"
    if unit == "g_co2e":  # grams in, tonnes (or kg) out: not 7-digit grams
        return f"{value / 1e6:,.2f} t" if abs(value) >= 1e5 else f"{value / 1e3:,.1f} kg"
    if unit == "usd":
        return f"${value:,.2f}" if abs(value) >= 0.01 else f"${value:.2g}"
    return fmt_count(round(value, 2))


def _fmt_half(half: float, unit: str) -> str:
    if unit == "frac":
        return f"{half * 100:.1f} pp"
    if unit == "gpu_h":
        return f"{half:,.1f}"
    return fmt_metric(half, unit)


def fmt_estimate(est: Estimate, unit: str) -> str:
    """``mean ± half-width`` (just the mean when no interval exists)."""
    text = fmt_metric(est.mean, unit)
    if est.mean is None or est.half_width is None:
        return text
    return f"{text} ± {_fmt_half(est.half_width, unit)}"


def fmt_diff(diff: Difference | None, unit: str) -> str:
    """Difference vs the baseline: relative (percentage points for fractions) ±
    its 95 % half-width, ``*`` when that interval excludes 0; ``same`` when identical."""
    if diff is None or diff.mean is None:
        return ""
    if diff.mean == 0 and not diff.half_width:
        return "same"
    if unit == "frac":
        text = f"{diff.mean * 100:+.1f} pp"
        half = None if diff.half_width is None else f"{diff.half_width * 100:.1f}"
    elif diff.rel is not None and diff.base_mean:
        text = f"{diff.rel * 100:+.1f} %"
        half = (None if diff.half_width is None
                else f"{abs(diff.half_width / diff.base_mean) * 100:.1f}")
    else:
        text = ("+" if diff.mean >= 0 else "-") + fmt_metric(abs(diff.mean), unit)
        half = None if diff.half_width is None else _fmt_half(diff.half_width, unit)
    if half is not None:
        text += f" ±{half}"
    return text + (" *" if diff.significant else "")


def verdict(diff: Difference | None, metric: Metric) -> str:
    """``better``/``worse`` when the difference is significant or exact, else ``""``."""
    if diff is None or diff.mean is None or diff.mean == 0 or diff.significant is False:
        return ""
    up = diff.mean > 0
    return "better" if up == metric.higher_is_better else "worse"


# -- page -----------------------------------------------------------------------------------


def _table(c: Comparison) -> str:
    heads = "".join(f"<th>{html.escape(v.label)}{' (baseline)' if i == 0 else ''}</th>"
                    for i, v in enumerate(c.variants))
    rows = []
    for m in c.shown_metrics():
        cells = []
        for vi in range(len(c.variants)):
            cell = c.cells[vi][m.key]
            cls = verdict(cell.diff, m)
            d = fmt_diff(cell.diff, m.unit)
            sub = f'<span class="d">{html.escape(d)}</span>' if d else ""
            cells.append(f'<td class="num {cls}">{html.escape(fmt_estimate(cell.estimate, m.unit))}'
                         f"{sub}</td>")
        rows.append(f"<tr><th>{html.escape(m.label)}</th>{''.join(cells)}</tr>")
    return (f'<div class="cmpwrap"><table class="cmp"><thead><tr><th>metric</th>{heads}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _layout(title: str, x: str, y: str, **extra: object) -> dict[str, object]:
    layout: dict[str, object] = {
        # just above the plot area, below the row of the Plotly toolbar (which covered it)
        "title": {"text": html.escape(title), "x": 0.01, "xanchor": "left", "y": 1.0,
                  "yref": "paper", "yanchor": "bottom", "pad": {"b": 28}},
        "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}, "rangemode": "tozero"},
        "margin": {"l": 60, "r": 20, "t": 80, "b": 50}, "height": 340, "showlegend": False,
        "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff",
    }
    layout.update(extra)
    return layout


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def metric_figure(c: Comparison, m: Metric) -> dict[str, object] | None:
    """Bars of the mean per variant with 95 % CI error bars (``None`` if no value)."""
    ests = [c.cells[vi][m.key].estimate for vi in range(len(c.variants))]
    means = [e.mean for e in ests]
    finite = [abs(x) for x in means if x is not None]
    if not finite:
        return None
    scale, unit = 1.0, {"frac": "%", "gpu_h": "GPU-h", "ratio": "", "count": ""}.get(m.unit, "")
    if m.unit == "frac":
        scale = 0.01
    elif m.unit == "g_co2e":
        unit, scale = "t CO2e", 1e6
    elif m.unit == "s":
        unit, scale = axis_unit(max(finite))
    y = [None if x is None else _r(x / scale) for x in means]
    err = [0.0 if e.half_width is None else _r(e.half_width / scale) for e in ests]
    labels = [html.escape(v.label) for v in c.variants]
    bar: dict[str, object] = {
        "type": "bar", "x": labels, "y": y,
        "marker": {"color": [PALETTE[i % len(PALETTE)] for i in range(len(labels))]},
        "customdata": [fmt_estimate(e, m.unit) for e in ests],
        "hovertemplate": "%{x}: %{customdata}<extra></extra>",
    }
    if any(e.half_width is not None for e in ests):
        bar["error_y"] = {"type": "data", "array": err, "visible": True, "color": "#333333"}
    return {"data": [bar], "layout": _layout(m.label, "", f"{m.label} ({unit})" if unit
                                              else m.label)}


def _even(n: int, cap: int) -> list[int]:
    if n <= cap:
        return list(range(n))
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


def jct_cdf_figure(c: Comparison) -> dict[str, object] | None:
    """Empirical CDF of JCT per variant (completed jobs of every seed pooled)."""
    pooled = [sorted(x for r in c.runs_of(vi) for x in r.jct_s) for vi in range(len(c.variants))]
    if not any(pooled):
        return None
    scale, xaxis = time_axis([x for xs in pooled for x in xs], "job completion time")
    traces = []
    for vi, xs in enumerate(pooled):
        n = len(xs)
        idx = [i for i in _even(n, MAX_CDF_POINTS) if xaxis.get("type") != "log" or xs[i] > 0]
        label = html.escape(c.variants[vi].label)
        traces.append({
            "type": "scatter", "mode": "lines", "name": f"{label} (n={n:,})",
            "line": {"shape": "hv", "color": PALETTE[vi % len(PALETTE)], "width": 2},
            "x": [_r(xs[i] / scale) for i in idx], "y": [_r((i + 1) / n) for i in idx],
            "customdata": [fmt_duration(xs[i]) for i in idx],
            "hovertemplate": f"JCT ≤ %{{customdata}}: %{{y:.0%}}<extra>{label}</extra>",
        })
    return {"data": traces, "layout": _layout(
        "Job completion time (CDF, completed jobs, all seeds)", "", "fraction of jobs",
        xaxis=xaxis, yaxis={"title": {"text": "fraction of jobs"}, "range": [0, 1.02],
                            "tickformat": ".0%"}, showlegend=True, height=420)}


def allocation_figure(c: Comparison) -> dict[str, object] | None:
    """Allocated GPUs (% of the cluster) over time per variant, run at the first seed."""
    first = [next((r for r in c.runs_of(vi) if r.alloc_time_s), None)
             for vi in range(len(c.variants))]
    runs = [(vi, r) for vi, r in enumerate(first) if r is not None and r.total_gpus > 0]
    if not runs:
        return None
    label, scale = axis_unit(max(r.end_time_s for _, r in runs))
    traces = []
    for vi, r in runs:
        t, g = prepare_step(r.alloc_time_s, [float(x) for x in r.alloc_gpus], r.end_time_s,
                            MAX_TIMELINE_POINTS)
        traces.append({
            "type": "scattergl" if len(t) > 5_000 else "scatter", "mode": "lines",
            "name": html.escape(c.variants[vi].label),
            "line": {"shape": "hv", "color": PALETTE[vi % len(PALETTE)], "width": 1.5},
            "x": [_r(x / scale) for x in t], "y": [_r(100.0 * x / r.total_gpus) for x in g],
        })
    return {"data": traces, "layout": _layout(
        f"GPU allocation over time (seed {c.plan.seeds[0]})", f"time ({label})",
        "allocated GPUs (% of total)", showlegend=True, height=420, hovermode="x",
        yaxis={"title": {"text": "allocated GPUs (% of total)"}, "range": [0, 105],
               "ticksuffix": " %"})}


def render_compare(c: Comparison) -> str:
    """The whole page (deterministic for a given comparison)."""
    drawn = False

    def panel(div_id: str, fig: dict[str, object] | None, missing: str) -> str:
        nonlocal drawn
        if fig is None:
            return note_html(missing)
        drawn = True
        return figure_html(div_id, fig)

    bars = "".join(panel(f"fig-metric-{m.key}", metric_figure(c, m),
                         f"{m.label}: no value in any run.") for m in c.shown_metrics())
    curves = (panel("fig-jct-cdf", jct_cdf_figure(c), "No job completed in any run.")
              + panel("fig-allocation", allocation_figure(c), "No allocation timeline."))
    plotly_js = ""
    if drawn:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    plan = c.plan
    meta = [("scenario file", plan.scenario_path), ("variants", str(len(c.variants))),
            ("seeds", ", ".join(str(s) for s in plan.seeds)),
            ("wall time", fmt_duration(c.wall_time_s))]
    meta_html = "".join(f"<span>{html.escape(k)} <b>{html.escape(v)}</b></span>"
                        for k, v in meta)
    title = html.escape(f"gputwin compare — {plan.scenarios[0].name}")
    legend = ("Mean over seeds ± 95 % confidence half-width (Student t). Second line: "
              "difference vs the baseline (paired by seed) ± its 95 % half-width (same unit as the "
              "difference); * = the interval excludes 0 (significant); green/red = "
              "significantly better/worse; no ± = single deterministic run per variant.")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}{EXTRA_CSS}</style>{plotly_js}</head><body>"
        f"<header><h1>{title}</h1><div class=\"meta\">{meta_html}</div></header><main>"
        f"{note_html(plan.note)}<h2>Side by side</h2>{_table(c)}"
        f"<p class=\"sub\">{html.escape(legend)}</p>"
        f'<h2>Per metric</h2><div class="grid3">{bars}</div>'
        f'<h2>Distributions and timelines</h2><div class="grid2">{curves}</div>'
        f"<footer>gputwin {html.escape(__version__)} · JCT = submit → end of completed jobs; "
        "queueing delay = submit → start.</footer></main></body></html>\n"
    )
