"""The report section of a shared fleet (training beside inference on one cluster).

Cards with the serving latency and the training progress side by side, the GPUs each
held over time and by hour of day, and each service's latency CDFs. Empty (``""``) for
runs without ``summary["fleet"]``. Deterministic (fixed element ids, no clock).
"""

from __future__ import annotations

import bisect
import html
from typing import Any

from gputwin.report.figures import PALETTE, Figure, _layout, _r
from gputwin.report.page import figure_html, note_html
from gputwin.report.serving import latency_cdf_figure
from gputwin.run.results import SimulationResult

_MAX_POINTS = 4000


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:,.0f} ms"


def _cards(s: dict[str, Any]) -> str:
    f, serving = s["fleet"], s["serving"]
    req = serving["requests_by_status"]
    att = f["slo_attainment_frac"]
    jobs = s["jobs_by_status"]
    cards = [
        ("requests", f"{serving['num_requests']:,}",
         f"{req['finished']:,} finished · {req['dropped']:,} dropped · "
         f"{req['in_flight']:,} in flight", req["dropped"] > 0),
        ("TTFT / TPOT p99", _ms(f["ttft_p99_s"]), f"TPOT {_ms(f['tpot_p99_s'])} (worst service)",
         False),
        ("SLO attainment", "-" if att is None else f"{att:.1%}", "finished requests",
         att is not None and att < 0.9),
        ("training jobs", f"{jobs.get('completed', 0):,} completed",
         f"{jobs.get('running', 0):,} running · {jobs.get('queued', 0):,} queued", False),
        ("GPU-hours", f"{f['training_gpu_hours']:,.0f} training",
         f"{f['serving_gpu_hours']:,.0f} serving; idle {f['idle_gpus_mean_frac'] or 0:.1%}",
         False),
        ("preempted by serving", f"{f['training_preemptions_by_serving']:,}",
         f"{f['training_lost_gpu_hours']:,.1f} GPU-h of training lost",
         f["training_preemptions_by_serving"] > 0),
        ("replicas", f"{f['replicas_started']:,} started",
         f"peak {f['serving_gpus_peak']:,.0f} GPUs; waited for GPUs up to "
         f"{f['replica_wait_s']['max'] or 0:,.0f} s", False),
    ]
    out = []
    for label, value, sub, bad in cards:
        cls = "card bad" if bad else "card"
        out.append(f'<div class="{cls}"><div class="label">{html.escape(label)}</div>'
                   f'<div class="value">{html.escape(value)}</div>'
                   f'<div class="sub">{html.escape(sub)}</div></div>')
    return '<div class="cards">' + "".join(out) + "</div>"


def _at(times: list[float], values: list[float], t: float) -> float:
    """The step function's value at ``t`` (the last sample at or before it)."""
    i = bisect.bisect_right(times, t)
    return values[i - 1] if i else 0.0


def gpus_over_time_figure(result: SimulationResult) -> Figure | None:
    """GPUs held by serving replicas and by training jobs (stacked step functions)."""
    tl = result.timeline
    serve = result.summary["fleet"]["serving_gpus_timeline"]
    times = sorted(set(tl.time_s) | set(serve["time_s"]))
    if len(times) < 2:
        return None
    stride = max(1, len(times) // _MAX_POINTS)
    times = times[::stride]
    s = [_at(serve["time_s"], serve["gpus"], t) for t in times]
    a = [_at(tl.time_s, [float(v) for v in tl.gpus_allocated], t) for t in times]
    hours = [_r(t / 3600.0) for t in times]
    data = [{"type": "scatter", "mode": "lines", "name": name, "x": hours, "y": ys,
             "stackgroup": "gpus", "line": {"color": PALETTE[k], "shape": "hv"}}
            for k, (name, ys) in enumerate((("serving", s),
                                            ("training", [x - y for x, y in zip(a, s,
                                                                                strict=True)])))]
    return {"data": data, "layout": _layout("GPUs held: serving and training",
                                            "simulated time (h)", "GPUs")}


def by_hour_figure(summary: dict[str, Any]) -> Figure | None:
    prof = summary["fleet"]["by_hour_of_day"]
    if not prof:
        return None
    data = [{"type": "bar", "name": name, "x": list(range(24)), "y": prof[key],
             "marker": {"color": PALETTE[k]}}
            for k, (name, key) in enumerate((("serving", "serving_gpus"),
                                             ("training", "training_gpus")))]
    return {"data": data, "layout": _layout("Mean GPUs by hour of day", "hour of day",
                                            "GPUs", barmode="stack")}


def shared_fleet_section(result: SimulationResult) -> tuple[str, bool]:
    """(HTML, whether a figure was drawn)."""
    s = result.summary
    if not isinstance(s.get("fleet"), dict):
        return "", False
    panels = []
    figs: list[tuple[str, Figure | None, str]] = [
        ("fig-fleet-gpus", gpus_over_time_figure(result), "No allocation timeline."),
        ("fig-fleet-hours", by_hour_figure(s), "The run is shorter than a day: no "
         "hour-of-day profile."),
    ]
    if result.serving is not None:
        for i, name in enumerate(s["serving"]["services"]):
            figs.append((f"fig-fleet-latency-{i}", latency_cdf_figure(result.serving, name),
                         f"No finished request of {name}."))
    drawn = False
    for div, fig, missing in figs:
        if fig is None:
            panels.append(note_html(missing))
        else:
            drawn = True
            panels.append(figure_html(div, fig))
    body = (_cards(s) + f'<div class="grid2">{"".join(panels)}</div>'
            + note_html("Serving replicas are gang jobs of the cluster scheduler with the "
                        "serving priority; training jobs they preempt lose the work since "
                        "their last checkpoint and re-queue (docs/shared-fleet.md)."))
    return ('<section id="shared-fleet"><h2>Training beside inference</h2>'
            f"{body}</section>"), drawn
