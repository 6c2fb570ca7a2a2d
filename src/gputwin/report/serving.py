"""The serving section of the HTML report: one self-contained page per serving run.

Key-figure cards per service, latency CDFs (TTFT, TPOT, end-to-end), TTFT/TPOT
percentiles against the SLO, and fleet timelines (output tokens/s, KV-cache usage,
running/waiting requests, replicas). Deterministic (no clock, fixed element ids), plotly.js
embedded once so the file opens offline.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from gputwin import __version__
from gputwin.report.page import (
    CSS,
    SORT_JS,
    figure_html,
    note_html,
    skipped_rows_text,
    warning_html,
)
from gputwin.run.serving_results import (
    REQUEST_STATUSES,
    ServiceTimelineData,
    ServingResult,
    request_table,
)
from gputwin.run.serving_summary import replica_shape_text
from gputwin.units import format_grams

Figure = dict[str, Any]
_MAX_CDF = 2000
_MAX_SERIES = 2000
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        # just above the plot area, below the row of the Plotly toolbar
        "title": {"text": html.escape(title), "x": 0.01, "xanchor": "left", "y": 1.0,
                  "yref": "paper", "yanchor": "bottom", "pad": {"b": 28}},
        "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}, "rangemode": "tozero"},
        "margin": {"l": 60, "r": 20, "t": 90, "b": 50}, "height": 380,
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1,
                   "xanchor": "right"},
        "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff"}
    out.update(extra)
    return out


def _cdf(values: np.ndarray) -> tuple[list[float], list[float]]:
    """At most ~``_MAX_CDF`` points of the empirical CDF of ``values`` (every
    ``n // _MAX_CDF``-th order statistic and the largest), so the figure's size does not
    grow with the number of requests."""
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if n == 0:
        return [], []
    stride = max(1, n // _MAX_CDF)
    idx = list(range(0, n, stride))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return [_r(float(x)) for x in v[idx]], [_r((i + 1) / n) for i in idx]


def latency_cdf_figure(result: ServingResult, service: str) -> Figure | None:
    table = request_table(result.requests)
    fin = table.status == REQUEST_STATUSES.index("finished")
    if len(set(table.service)) > 1:
        fin &= np.array(table.service, dtype=object) == service
    elif table.service and table.service[0] != service:
        return None
    if not fin.any():
        return None
    data = []
    for i, (label, col) in enumerate((("TTFT", table.ttft_s), ("TPOT", table.tpot_s),
                                      ("end-to-end", table.e2e_s))):
        vals = col[fin]
        xs, ys = _cdf(vals[~np.isnan(vals)])
        if xs:
            data.append({"type": "scatter", "mode": "lines", "name": label, "x": xs, "y": ys,
                         "line": {"color": _COLORS[i]}})
    # log axis: one labelled tick per decade (0.01, 0.1, 1, 10 s), not Plotly's bare "2, 5"
    return {"data": data, "layout": _layout(f"{service}: latency CDFs (finished requests)",
                                            "seconds (log)", "fraction of requests",
                                            xaxis={"type": "log", "dtick": 1,
                                                   "title": {"text": "seconds (log scale)"}})}


def slo_figure(summary: dict[str, Any], service: str) -> Figure | None:
    data = []
    shapes = []
    for i, (label, key, slo_key) in enumerate((("TTFT", "ttft_s", "ttft_s"),
                                               ("TPOT", "tpot_s", "tpot_s"))):
        d = summary[key]
        if d["p50"] is None:
            continue
        xs = ["p50", "p90", "p99"]
        values_ms = [_r(d[x] * 1e3) for x in xs]
        data.append({"type": "bar", "name": label, "x": [f"{label} {x}" for x in xs],
                     "y": values_ms, "marker": {"color": _COLORS[i]},
                     "text": [f"{v:,.1f} ms" for v in values_ms], "textposition": "outside"})
        slo = summary["slo"][slo_key]
        if slo is not None:
            shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": slo * 1e3,
                           "y1": slo * 1e3, "line": {"color": _COLORS[i], "dash": "dash"}})
    if not data:
        return None
    title = (f"{service}: percentiles vs SLO (dashed lines)" if shapes
             else f"{service}: latency percentiles (no SLO given)")
    return {"data": data, "layout": _layout(title, "", "milliseconds", shapes=shapes,
                                            yaxis={"type": "log", "dtick": 1,
                                                   "title": {"text": "ms (log scale)"}})}


def _thin(n: int) -> list[int]:
    stride = max(1, n // _MAX_SERIES)
    idx = list(range(0, n, stride))
    if idx and idx[-1] != n - 1:
        idx.append(n - 1)
    return idx


def timeline_figure(tl: ServiceTimelineData, service: str, what: str) -> Figure | None:
    if len(tl.time_s) < 2:
        return None
    idx = _thin(len(tl.time_s))
    t = [_r(tl.time_s[i]) for i in idx]
    # only the kept samples are converted: the cost follows _MAX_SERIES, not the run
    series: list[tuple[str, list[float]]]
    if what == "throughput":
        series = [("output tokens/s", [_r(tl.output_tokens_per_s[i]) for i in idx])]
        title, unit = "output throughput", "tokens/s"
    elif what == "kv":
        series = [("KV cache used", [_r(100 * tl.kv_used_frac[i]) for i in idx])]
        title, unit = "KV-cache usage (mean over replicas)", "%"
    elif what == "queue":
        series = [("running", [float(tl.running[i]) for i in idx]),
                  ("waiting", [float(tl.waiting[i]) for i in idx])]
        title, unit = "running and waiting requests (fleet)", "requests"
    else:
        series = [("replicas", [float(tl.replicas[i]) for i in idx])]
        title, unit = "replicas", "replicas"
    data = [{"type": "scatter", "mode": "lines", "name": name, "x": t,
             "y": vals, "line": {"color": _COLORS[k], "shape": "hv"}}
            for k, (name, vals) in enumerate(series)]
    return {"data": data, "layout": _layout(f"{service}: {title}", "simulated time (s)", unit)}


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:,.1f} ms"


def _cards(s: dict[str, Any], trace_reuse: float | None = None) -> str:
    """One service's summary cards; ``trace_reuse``: the replayed trace's prefix reuse
    bound (``trace_prefix_reuse_frac``), shown beside the prefix-cache hits."""
    att = s["slo_attainment_frac"]
    e = s["energy_per_output_token_j"]
    c = s["cost_per_million_output_tokens_usd"]
    cards = [
        ("requests", f"{s['num_requests']:,}",
         f"{s['finished']:,} finished · {s['dropped']:,} dropped · {s['in_flight']:,} in flight"
         + (f" · {s['warmup_requests']:,} warm-up not measured"
            if s.get("warmup_requests") else ""),
         s["dropped"] > 0),
        ("TTFT p50 / p99", f"{_fmt_ms(s['ttft_s']['p50'])}", f"p99 {_fmt_ms(s['ttft_s']['p99'])}",
         False),
        ("TPOT p50 / p99", f"{_fmt_ms(s['tpot_s']['p50'])}", f"p99 {_fmt_ms(s['tpot_s']['p99'])}",
         False),
        ("output throughput", f"{s['output_tokens_per_s']:,.0f} tok/s",
         f"{s['throughput_rps']:,.2f} req/s", False),
        ("goodput", "-" if s["goodput_active_rps"] is None
         else f"{s['goodput_active_rps']:,.2f} req/s",
         "no SLO given" if att is None else f"{att:.1%} meet the SLO",
         att is not None and att < 0.9),
        ("KV cache", f"{(s['kv_used_frac_mean'] or 0):.1%}",
         f"mean; peak {(s['kv_used_frac_peak'] or 0):.1%}; {s['num_preemptions']:,} preemptions",
         s["num_preemptions"] > 0),
        ("prefix-cache hits", f"{s['prefix_cache_hit_frac']:.1%}", "of prompt tokens" + (
            "" if trace_reuse is None else f"; the trace allows {trace_reuse:.1%}"), False),
        ("energy", "-" if e is None else f"{e:.3f} J/token", "per output token", False),
        ("carbon", f"{format_grams(s['co2e_g'])} CO2e",
         f"{format_grams(s['co2e_embodied_g'])} embodied; {s['water_l']:,.2f} L water", False),
        ("cost", "-" if c is None else f"${c:,.2f}", "per million output tokens (price book)",
         False),
        ("replicas", f"{s['replicas_mean'] or 0:,.1f}",
         f"mean; peak {s['replicas_peak']}; {s['gpu_hours']:,.2f} GPU-h", False),
    ]
    f = s.get("failures")
    if f is not None:  # serving.failures (docs/reliability.md)
        causes = ", ".join(f"{k} {v}" for k, v in f["by_cause"].items()) or "none"
        cards.append(("replica faults", f"{f['faults']:,}",
                      f"{causes}; {f['capacity_lost_frac']:.1%} of replica time down; "
                      f"{f['requests_retried']:,} requests retried, {f['requests_failed']:,} "
                      "failed", f["requests_failed"] > 0))
    out = []
    for label, value, sub, bad in cards:
        cls = "card bad" if bad else "card"
        out.append(f'<div class="{cls}"><div class="label">{html.escape(label)}</div>'
                   f'<div class="value">{html.escape(value)}</div>'
                   f'<div class="sub">{html.escape(sub)}</div></div>')
    return '<div class="cards">' + "".join(out) + "</div>"


def _generation_cards(g: dict[str, Any]) -> str:
    """Cards of one image/video generation service (``summary['generation'][name]``)."""
    lat, att = g["latency_s"], g["slo_attainment_frac"]

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f} s"

    per_s, per_sample = g["cost_per_video_second_usd"], g["cost_per_sample_usd"]
    cards = [
        ("requests", f"{g['num_requests']:,}", f"{g['finished']:,} delivered", False),
        ("latency p50 / p99", sec(lat["p50"]), f"p90 {sec(lat['p90'])} · p99 {sec(lat['p99'])}",
         False),
        ("SLO", "-" if att is None else f"{att:.1%}", "delivered within the latency SLO",
         att is not None and att < 0.9),
        ("GPU-s per video second", "-" if g["gpu_seconds_per_video_second"] is None
         else f"{g['gpu_seconds_per_video_second']:,.0f}",
         f"{(g['gpu_utilisation_frac'] or 0):.0%} busy; mean batch {g['batch_mean'] or 0:.2f}",
         False),
        ("cost", "-" if per_s is None and per_sample is None else
         (f"${per_s:,.2f}" if per_s is not None else f"${per_sample:,.3f}"),
         "per generated second" if per_s is not None else "per sample", False),
        ("carbon", f"{format_grams(g['co2e_g'])} CO2e", f"{g['gpu_hours']:,.1f} GPU-h", False),
    ]
    out = [f'<div class="{"card bad" if bad else "card"}"><div class="label">'
           f'{html.escape(label)}</div><div class="value">{html.escape(value)}</div>'
           f'<div class="sub">{html.escape(sub)}</div></div>'
           for label, value, sub, bad in cards]
    return '<div class="cards">' + "".join(out) + "</div>"


class _Panels:
    """Numbers the report's figures and remembers whether any was drawn (plotly.js is
    embedded only then)."""

    def __init__(self) -> None:
        self.drawn = False
        self.count = 0

    def __call__(self, fig: Figure | None, missing: str) -> str:
        if fig is None:
            return note_html(missing)
        self.drawn = True
        self.count += 1
        return figure_html(f"fig-serving-{self.count}", fig)


def _service_section(result: ServingResult, name: str, s: dict[str, Any],
                     panel: _Panels) -> str:
    """One service's cards, latency figures and timelines."""
    tl = result.timelines.get(name, ServiceTimelineData())
    services = result.summary.get("services", {})
    body = "".join(warning_html(w) for w in s.get("warnings", []))
    body += _cards(s, result.summary.get("trace_prefix_reuse_frac") if len(services) == 1
                   else None)
    body += '<div class="grid2">' + panel(latency_cdf_figure(result, name),
                                          "No request finished.")
    body += panel(slo_figure(s, name), "No latency to compare.") + "</div>"
    body += '<div class="grid2">'
    for what in ("throughput", "kv", "queue", "replicas"):
        body += panel(timeline_figure(tl, name, what), "Too few timeline samples.")
    body += "</div>"
    return (f'<section id="service-{html.escape(name)}"><h2>Service '
            f"{html.escape(name)} — {html.escape(str(s['model']))}, "
            f"{html.escape(replica_shape_text(s))}</h2>{body}</section>")


def _skipped_span(skipped: dict[str, int] | None) -> str:
    """The header's note of the trace rows the run left out (empty when none)."""
    text = skipped_rows_text(skipped)
    return "" if text is None else f"<span>trace <b>{html.escape(text)}</b></span>"


def render_serving_report(result: ServingResult) -> str:
    """One self-contained HTML page describing a serving run (never raises on empty runs)."""
    panel = _Panels()
    sections = [_service_section(result, name, s, panel)
                for name, s in result.summary.get("services", {}).items()]
    if "rag" in result.summary:
        from gputwin.report.rag import rag_section

        sections.append(rag_section(result.summary["rag"]))
    for name, g in (result.summary.get("generation") or {}).items():
        sections.append(f'<section id="generation-{html.escape(name)}"><h2>Generation service '
                        f"{html.escape(name)} — {html.escape(str(g['model']))} on "
                        f"{g['gpus_per_replica']}× {html.escape(str(g['gpu']))}</h2>"
                        f"{_generation_cards(g)}</section>")
    plotly_js = ""
    if "sites" in result.summary:  # a run across sites (docs/sites.md)
        from gputwin.report.sites import sites_section

        sections.insert(0, sites_section(result.summary, lambda f: panel(f, "")))
    if panel.drawn:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    meta = (f"<span>seed <b>{result.seed}</b></span><span>requests "
            f"<b>{len(result.requests):,}</b></span><span>simulated <b>{result.end_time_s:,.1f}"
            f" s</b></span>" + (f"<span>wall <b>{result.wall_time_s:,.2f} s</b></span>"
                                if result.wall_time_s > 0 else "")  # 0: --no-timing
            + _skipped_span(result.summary.get("trace_rows_skipped")))
    title = html.escape(f"gputwin serving report — {result.scenario_name}")
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style>{plotly_js}</head><body>"
            f"<header><h1>gputwin serving run: {html.escape(result.scenario_name)}</h1>"
            f'<div class="meta">{meta}</div></header><main>'
            + "".join(sections)
            + f"<footer>gputwin {html.escape(__version__)} · TTFT = first token − arrival; "
            "TPOT = (finish − first token)/(output − 1); goodput = finished requests meeting "
            "every SLO per second over the service's active time; energy (power model), "
            "carbon, water (site ledger) and cost (price book) per output token of finished "
            "requests."
            f"</footer></main><script>{SORT_JS}</script></body></html>\n")
