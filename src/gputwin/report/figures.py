"""Plotly figure specifications (plain ``{"data": [...], "layout": {...}}`` dicts).

Figures are built as plain JSON-able dicts and drawn by the embedded plotly.js, not via
``plotly.graph_objects``: that keeps the output byte-for-byte deterministic, small (no
template copied into every figure) and fast for big runs. Each builder returns ``None``
when there is nothing honest to draw; the page then shows a note instead of an empty or
misleading plot. User-supplied text (kinds, tenants, job ids) is HTML-escaped because
plotly.js interprets a subset of HTML in labels.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from gputwin.report.downsample import DEFAULT_MAX_POINTS, prepare_step
from gputwin.report.fmt import axis_unit, fmt_duration, time_axis
from gputwin.report.stats import gpu_hours_by
from gputwin.run.results import JobRecord, SimulationResult

Figure = dict[str, Any]

# d3 "category10", plotly.js's default colour cycle.
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
MAX_SCATTER_POINTS = 20_000
MAX_CDF_POINTS = 2_000
MAX_BARS = 15


def _r(x: float) -> float:
    """Round for compact JSON (6 significant digits is far below pixel resolution)."""
    return float(f"{x:.6g}")


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": html.escape(title), "x": 0.01, "xanchor": "left", "y": 0.98,
                  "yanchor": "top", "yref": "container"},
        "xaxis": {"title": {"text": x_title}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "margin": {"l": 60, "r": 20, "t": 78, "b": 50},
        "height": 380,
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "hovermode": "closest",
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
    }
    layout.update(extra)
    return layout


def kind_colors(jobs: Sequence[JobRecord]) -> dict[str, str]:
    """A stable colour per job kind (sorted names cycle through the palette)."""
    kinds = sorted({j.kind for j in jobs})
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}


def timeline_unit(result: SimulationResult) -> tuple[str, float]:
    """The time-axis unit of the run's timelines, from its horizon."""
    start = result.timeline.time_s[0] if result.timeline.time_s else 0.0
    return axis_unit(max(result.end_time_s - start, 0.0))


def _step_trace(
    t: list[float], v: list[float], scale: float, name: str, color: str, **extra: Any
) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "type": "scattergl" if len(t) > 5_000 else "scatter",
        "mode": "lines",
        "line": {"shape": "hv", "color": color, "width": 1.5},
        "name": name,
        "x": [_r(x / scale) for x in t],
        "y": v,
    }
    trace.update(extra)
    return trace


def gpu_allocation_figure(
    result: SimulationResult, max_points: int = DEFAULT_MAX_POINTS
) -> Figure | None:
    """Allocated GPUs as % of the cluster over time, with the 100 % line for reference."""
    tl = result.timeline
    if not tl.time_s or result.total_gpus <= 0:
        return None
    unit, scale = timeline_unit(result)
    t, gpus = prepare_step(tl.time_s, [float(g) for g in tl.gpus_allocated],
                           result.end_time_s, max_points)
    total = result.total_gpus
    pct = [_r(100.0 * g / total) for g in gpus]
    alloc = _step_trace(
        t, pct, scale, "allocated", PALETTE[0],
        fill="tozeroy", fillcolor="rgba(31,119,180,0.15)",
        customdata=[int(g) for g in gpus],
        hovertemplate="%{customdata:,} GPUs (%{y:.1f} %)<extra>allocated</extra>",
    )
    x_end = max(t[-1], result.end_time_s)
    ref = {
        "type": "scatter", "mode": "lines", "name": f"total ({total:,} GPUs)",
        "x": [_r(t[0] / scale), _r(x_end / scale)], "y": [100, 100],
        "line": {"color": "#444444", "dash": "dash", "width": 1},
        "hovertemplate": f"{total:,} GPUs (100 %)<extra>total</extra>",
    }
    peak = max(pct, default=0.0)
    return {
        "data": [alloc, ref],
        "layout": _layout(
            "GPU allocation over time", f"time ({unit})", "allocated GPUs (% of total)",
            yaxis={"title": {"text": "allocated GPUs (% of total)"},
                   "range": [0, max(105.0, peak * 1.05)], "ticksuffix": " %"},
            hovermode="x",
        ),
    }


def queue_running_figure(
    result: SimulationResult, max_points: int = DEFAULT_MAX_POINTS
) -> Figure | None:
    """Queue length and number of running jobs over time (two step lines)."""
    tl = result.timeline
    if not tl.time_s:
        return None
    unit, scale = timeline_unit(result)
    traces = []
    for name, values, color in (
        ("queued jobs", tl.queue_length, PALETTE[1]),
        ("running jobs", tl.running_jobs, PALETTE[2]),
    ):
        if not values:
            continue
        t, v = prepare_step(tl.time_s, [float(x) for x in values], result.end_time_s,
                            max_points)
        traces.append(_step_trace(t, [int(x) for x in v], scale, name, color,
                                  hovertemplate="%{y:,}<extra>" + name + "</extra>"))
    if not traces:
        return None
    return {
        "data": traces,
        "layout": _layout("Queue length and running jobs", f"time ({unit})", "jobs",
                          hovermode="x"),
    }


def _stride(n: int, cap: int) -> int:
    return max(1, math.ceil(n / cap))


def job_times_figure(
    result: SimulationResult, max_points: int = MAX_SCATTER_POINTS
) -> tuple[Figure | None, int]:
    """Wait time vs run time per finished job, coloured by kind; failed jobs as crosses.

    Returns ``(figure, stride)``: beyond ``max_points`` jobs only every ``stride``-th job
    (in record order, deterministic) is drawn; the caller tells the reader.
    """
    done = [j for j in result.jobs
            if j.wait_time_s is not None and j.run_time_s is not None
            and j.status in ("completed", "failed")]
    if not done:
        return None, 1
    stride = _stride(len(done), max_points)
    shown = done[::stride]
    x_scale, xaxis = time_axis([j.run_time_s or 0.0 for j in shown], "run time")
    y_scale, yaxis = time_axis([j.wait_time_s or 0.0 for j in shown], "wait time")
    if yaxis.get("type") == "log":  # zero waits are common; keep the wait axis linear
        label, y_scale = axis_unit(max(j.wait_time_s or 0.0 for j in shown))
        yaxis = {"title": {"text": f"wait time ({label})"}, "rangemode": "tozero"}
    colors = kind_colors(result.jobs)
    groups: dict[str, list[JobRecord]] = {}
    for j in shown:
        groups.setdefault("failed" if j.status == "failed" else j.kind, []).append(j)
    traces = []
    for name in sorted(groups, key=lambda g: (g == "failed", g)):
        members = groups[name]
        failed = name == "failed"
        traces.append({
            "type": "scattergl" if len(shown) > 2_000 else "scatter",
            "mode": "markers",
            "name": html.escape(name),
            "x": [_r((j.run_time_s or 0.0) / x_scale) for j in members],
            "y": [_r((j.wait_time_s or 0.0) / y_scale) for j in members],
            "customdata": [[html.escape(j.job_id), html.escape(j.kind), html.escape(j.tenant),
                            j.num_gpus, fmt_duration(j.run_time_s),
                            fmt_duration(j.wait_time_s)] for j in members],
            "marker": {"color": "#d62728" if failed else colors[name], "size": 6,
                       "opacity": 0.7, "symbol": "x" if failed else "circle"},
            "hovertemplate": ("%{customdata[0]} (%{customdata[1]}, %{customdata[2]}, "
                              "%{customdata[3]} GPUs)<br>run %{customdata[4]}, "
                              "wait %{customdata[5]}<extra></extra>"),
        })
    return {
        "data": traces,
        "layout": _layout("Wait vs run time per job", "", "", xaxis=xaxis, yaxis=yaxis),
    }, stride


def _even_indices(n: int, cap: int) -> list[int]:
    """At most ``cap`` indices spread evenly over ``range(n)``, always with 0 and n-1."""
    if n <= cap:
        return list(range(n))
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


def jct_cdf_figure(result: SimulationResult, max_points: int = MAX_CDF_POINTS) -> Figure | None:
    """Empirical CDF of job completion time per kind (completed jobs only)."""
    by_kind: dict[str, list[float]] = {}
    for j in result.jobs:
        if j.status == "completed" and j.jct_s is not None:
            by_kind.setdefault(j.kind, []).append(j.jct_s)
    if not by_kind:
        return None
    scale, xaxis = time_axis([x for xs in by_kind.values() for x in xs],
                             "job completion time")
    colors = kind_colors(result.jobs)
    traces = []
    for kind in sorted(by_kind):
        xs = sorted(by_kind[kind])
        n = len(xs)
        idx = _even_indices(n, max_points)
        if xaxis.get("type") == "log":
            idx = [i for i in idx if xs[i] > 0]
        traces.append({
            "type": "scatter", "mode": "lines", "name": f"{html.escape(kind)} (n={n:,})",
            "line": {"shape": "hv", "color": colors[kind], "width": 2},
            "x": [_r(xs[i] / scale) for i in idx],
            "y": [_r((i + 1) / n) for i in idx],
            "customdata": [fmt_duration(xs[i]) for i in idx],
            "hovertemplate": "JCT ≤ %{customdata}: %{y:.0%} of jobs<extra>"
                             + html.escape(kind) + "</extra>",
        })
    return {
        "data": traces,
        "layout": _layout("Job completion time (CDF, completed jobs)", "", "fraction of jobs",
                          xaxis=xaxis,
                          yaxis={"title": {"text": "fraction of jobs"}, "range": [0, 1.02],
                                 "tickformat": ".0%"}),
    }


def gpu_hours_figure(
    result: SimulationResult, by: str, max_bars: int = MAX_BARS
) -> Figure | None:
    """Horizontal bars of GPU-hours per ``by`` (``"kind"`` or ``"tenant"``), largest on top.

    Groups beyond ``max_bars - 1`` are folded into one "other (k)" bar.
    Raises ``ValueError`` for any other ``by``.
    """
    if by not in ("kind", "tenant"):
        raise ValueError(f"by must be 'kind' or 'tenant', got {by!r}")
    groups = gpu_hours_by(result.jobs, lambda j: getattr(j, by), result.end_time_s)
    groups = [(name, h) for name, h in groups if h > 0]
    if not groups:
        return None
    if len(groups) > max_bars:
        rest = groups[max_bars - 1:]
        groups = [*groups[: max_bars - 1], (f"other ({len(rest)})", sum(h for _, h in rest))]
    groups.reverse()  # plotly draws the first category at the bottom
    color = PALETTE[4] if by == "tenant" else PALETTE[0]
    return {
        "data": [{
            "type": "bar", "orientation": "h",
            "x": [_r(h) for _, h in groups],
            "y": [html.escape(name) for name, _ in groups],
            "marker": {"color": color},
            "hovertemplate": "%{y}: %{x:,.1f} GPU-h<extra></extra>",
        }],
        "layout": _layout(f"GPU-hours by {by}", "GPU-hours", "",
                          height=max(280, 140 + 26 * len(groups)),
                          yaxis={"automargin": True, "type": "category"}),
    }
