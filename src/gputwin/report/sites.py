"""The sites section of a serving report (runs with ``sites:``): where requests were served,
user-side latency per population, per-site energy, cost and traffic, the explanation
sentences, and a rollout's progress over time with the traffic each version served."""

from __future__ import annotations

import html
from typing import Any

from gputwin.report.page import simple_table

Figure = dict[str, Any]


def _f(v: Any, fmt: str, scale: float = 1.0) -> str:
    return "-" if v is None else format(v * scale, fmt)


def _sites_table(s: dict[str, Any]) -> str:
    rows = [[name, r["kind"], r["grid"], f"{r['requests_served']:,.0f}",
             _f(r["gpu_hours"], ",.2f"), _f(r["energy_j"], ",.2f", 1 / 3.6e6),
             _f(r["co2e_g"], ",.2f", 1e-3), _f(r["cost_usd"], ",.2f"),
             _f(r["backhaul_bytes"], ",.3f", 1e-9), _f(r["egress_bytes"], ",.3f", 1e-9)]
            for name, r in s["sites"].items()]
    return simple_table(["site", "kind", "grid", "requests", "GPU-h", "energy kWh", "CO2e kg",
                   "cost $", "backhaul GB", "egress GB"], rows)


def _populations_table(s: dict[str, Any]) -> str:
    rows = [[name, p["access"], f"{p['requests']:,}", _f(p["e2e_p50_s"], ".3f"),
             _f(p["e2e_p99_s"], ".3f"), _f(p["ttft_p50_s"], ".1f", 1e3),
             _f(p["breakdown_mean_s"]["network_rtt"], ".1f", 1e3),
             _f(p["served_at_edge_frac"], ".0%"), _f(p["relayed_frac"], ".0%")]
            for name, p in s["populations"].items()]
    return simple_table(["population", "access", "requests", "e2e p50 s", "e2e p99 s",
                   "TTFT p50 ms", "RTT mean ms", "at edge", "relayed"], rows)


def rollout_figure(r: dict[str, Any]) -> Figure:
    """Sites on the new version (and failed) over simulated time: step lines."""
    t = [p["t_s"] for p in r["timeline"]]
    data = [{"type": "scatter", "mode": "lines", "name": name, "x": t,
             "y": [p[key] for p in r["timeline"]], "line": {"shape": "hv"}}
            for name, key in ((f"sites on {r['version']}", "sites_new"),
                              ("failed sites", "sites_failed"))]
    return {"data": data, "layout": {
        "title": {"text": html.escape(f"rollout of {r['version']} ({r['distribution']})")},
        "xaxis": {"title": {"text": "simulated time (s)"}},
        "yaxis": {"title": {"text": "sites"}, "rangemode": "tozero"}, "height": 340}}


def sites_section(s: dict[str, Any], figure: Any) -> str:
    """HTML of the section; ``figure(fig)`` renders one plotly figure."""
    lines = "".join(f"<li>{html.escape(x)}</li>" for x in s.get("explanation", []))
    body = (f"<ul>{lines}</ul><h3>Sites</h3>{_sites_table(s)}"
            f"<h3>User populations</h3>{_populations_table(s)}")
    outages = (s.get("failures") or {}).get("site_outages") or []
    if outages:
        body += "<h3>Site outages</h3>" + simple_table(
            ["site", "down (min)", "replicas", "requests retried", "failed"],
            [[o["site"], f"{o['start_s'] / 60:,.1f}–{o['end_s'] / 60:,.1f}",
              f"{o['replicas_down']:,}", f"{o['requests_retried']:,}",
              f"{o['requests_failed']:,}"] for o in outages])
    r = s.get("rollout")
    if r:
        tv = r["traffic_by_version"]
        body += ("<h3>Rollout</h3>" + figure(rollout_figure(r))
                 + simple_table(["version", "requests", "output tokens"],
                          [[v, f"{x['requests']:,}", f"{x['output_tokens']:,}"]
                           for v, x in tv.items()]))
    return (f'<section id="sites"><h2>Sites: placement {html.escape(str(s["placement"]))}, '
            f'routing {html.escape(str(s["routing"]))}</h2>{body}</section>')
