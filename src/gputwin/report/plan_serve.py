"""The self-contained HTML report of one ``plan serve`` run.

One page: the question (model, traffic, SLOs, prices), key figures, the Pareto front of
cost per million tokens against end-to-end latency at the SLO percentile (every confirmed
deployment drawn; those that missed an SLO greyed, at their price per offered token), and
the table of deployments that met the SLOs. plotly.js is embedded once, so the file opens
from disk with no network; the output is a pure function of its input (byte-identical for
the same plan).
"""

from __future__ import annotations

import html
import math
from typing import Any

from gputwin import __version__
from gputwin.energy.tables import ESTIMATE_FOOTNOTE, ESTIMATE_MARK
from gputwin.plan.serve import deployment_label
from gputwin.report.page import CSS, SORT_JS, figure_html, note_html

_COLUMNS = (("deployment", False), ("GPUs", True), ("$/hour", True), ("$/M tokens", True),
            ("TTFT", True), ("TPOT", True), ("e2e", True), ("steady goodput req/s", True),
            ("SLO attained", True), ("Pareto", False))


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def pareto_figure(rows: list[dict[str, Any]], pareto_keys: list[str],
                  percentile: str) -> dict[str, Any] | None:
    """Cost per million tokens (x) against e2e latency at the percentile (y)."""
    # a deployment that missed an SLO may have no good tokens: drawn at its price per
    # offered token (the estimate's cost) instead
    pts = [(r, _finite(r["cost_usd_per_million_tokens"])
            or _finite(r["analytic_cost_usd_per_million_tokens"]), _finite(r["e2e_pct_s"]))
           for r in rows]
    pts = [p for p in pts if p[1] is not None and p[2] is not None]
    if not pts:
        return None
    by_key = {r["key"]: (x, y) for r, x, y in pts}
    traces: list[dict[str, Any]] = []
    for met, name, color in ((False, "missed an SLO", "#b0b6bf"),
                             (True, "met the SLOs", "#1f77b4")):
        sel = [(r, x, y) for r, x, y in pts if bool(r["slo_met"]) is met]
        if sel:
            traces.append({"type": "scatter", "mode": "markers", "name": name,
                           "x": [x for _, x, _ in sel], "y": [y for _, _, y in sel],
                           "text": [deployment_label(r) for r, _, _ in sel],
                           "marker": {"color": color, "size": 8}})
    front = [by_key[k] for k in pareto_keys if k in by_key]
    if front:
        traces.append({"type": "scatter", "mode": "lines+markers", "name": "Pareto front",
                       "x": [x for x, _ in front], "y": [y for _, y in front],
                       "line": {"color": "#d62728", "shape": "hv"},
                       "marker": {"color": "#d62728", "size": 10, "symbol": "diamond"}})
    layout = {"title": {"text": "Cost vs latency of the confirmed deployments"},
              "xaxis": {"title": {"text": "USD per million tokens (SLO-meeting)"},
                        "type": "log"},
              "yaxis": {"title": {"text": f"end-to-end latency {percentile} (s)"}},
              "height": 460, "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
              "legend": {"orientation": "h"}}
    return {"data": traces, "layout": layout}


def _cell(text: str, key: float | None = None) -> str:
    if key is None:
        return f"<td>{html.escape(text)}</td>"
    return f'<td class="num" data-sort="{key:.9g}">{html.escape(text)}</td>'


def _table(cands: list[dict[str, Any]], pareto_keys: set[str], pct: str) -> str:
    head = "".join(f'<th data-type="{"num" if num else "text"}">{html.escape(name)}</th>'
                   for name, num in _COLUMNS)
    body = []
    for c in cands:
        lat = [c[f"{m}_s"][pct] for m in ("ttft", "tpot", "e2e")]
        est = ESTIMATE_MARK if c.get("price_estimated") else ""
        cells = [_cell(deployment_label(c)), _cell(str(c["gpus"]), c["gpus"]),
                 _cell(f"{est}{c['usd_per_hour']:.2f}", c["usd_per_hour"]),
                 _cell(f"{est}{c['cost_usd_per_million_tokens']:.4f}",
                       c["cost_usd_per_million_tokens"])]
        cells += [_cell(f"{v * 1e3:,.0f} ms" if v is not None else "-", v) for v in lat]
        cells += [_cell(f"{c['goodput_steady_rps']:.2f}", c["goodput_steady_rps"]),
                  _cell(f"{c['slo_attainment_frac']:.1%}", c["slo_attainment_frac"]),
                  _cell("yes" if c["key"] in pareto_keys else "")]
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (f" · {ESTIMATE_FOOTNOTE}" if any(c.get("price_estimated") for c in cands)
            else "")
    return (f'<div class="tablewrap"><table class="sortable"><caption>Deployments that met '
            f"the SLOs (cheapest first){note}</caption><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def _cards(plan: dict[str, Any]) -> str:
    best = plan["candidates"][0] if plan["candidates"] else None
    cards = [("best $/M tokens", f"{best['cost_usd_per_million_tokens']:.4f}"
              if best else "none",
              deployment_label(best) if best else "no deployment met the SLOs"),
             ("deployments kept", f"{plan['num_deployments']:,}",
              f"of {plan['num_shapes']:,} replica shapes"),
             ("simulated", str(plan["num_simulated"] + plan["num_resumed"]),
              f"{plan['num_resumed']} resumed"),
             ("met the SLOs", str(plan["num_slo_met"]), plan["percentile"])]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{html.escape(a)}</div><div class="value">'
        f'{html.escape(b)}</div><div class="sub">{html.escape(c)}</div></div>'
        for a, b, c in cards) + "</div>"


def render_plan_report(plan: dict[str, Any], rows: list[dict[str, Any]],
                       passed: list[dict[str, Any]] | None = None) -> str:
    """The page for ``plan`` (``ServePlan.to_dict()``), its flat confirmation ``rows`` and
    every deployment that met the SLOs (``passed``, JSON form; default: the plan's top)."""
    pct = plan["percentile"]
    pareto_keys = [c["key"] for c in plan["pareto"]]
    fig = pareto_figure(rows, pareto_keys, pct)
    plot = figure_html("pareto", fig) if fig else note_html("Nothing was confirmed.")
    plotly_js = ""
    if fig:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    t, slo = plan["traffic"], plan["slo"]
    limits = ", ".join(f"{name} {slo[key] * 1e3:,.0f} ms" for name, key in (
        ("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("e2e", "e2e_s")) if slo[key] is not None)
    load = (f"<b>{t['rate_per_s']:.3g}</b> req/s" if not t.get("concurrency") else
            f"<b>{t['concurrency']}</b> concurrent users (&ge; {t['rate_per_s']:.3g} req/s "
            "within the SLOs)")
    meta = (f"{load} · {t['input_tokens']:.0f} in / "
            f"{t['output_tokens']:.0f} out tokens · SLOs at {pct}: {limits} · prices "
            f"{plan['provider']}/{plan['pricing']}")
    rejected = ", ".join(f"{k}: {v:,}" for k, v in plan["rejected"].items()) or "none"
    title = html.escape(f"gputwin plan serve — {plan['model']}")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style>{plotly_js}</head><body>"
        f'<header><h1>{title}</h1><div class="meta">{meta}</div></header><main>'
        f"<h2>Key figures</h2>{_cards(plan)}<h2>Pareto front</h2>{plot}"
        f"<h2>Candidates</h2>"
        f"{_table(plan['candidates'] if passed is None else passed, set(pareto_keys), pct)}"
        f"<p>Not kept by the analytic bounds: {html.escape(rejected)}.</p>"
        f"<footer>gputwin {html.escape(__version__)} · cost per million tokens = fleet "
        "price / tokens per second of requests that met every SLO (price book).</footer>"
        f"</main><script>{SORT_JS}</script></body></html>\n"
    )
