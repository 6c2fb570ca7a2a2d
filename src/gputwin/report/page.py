"""Static parts of the report page: stylesheet, table-sort script, figure embedding."""

from __future__ import annotations

import html
import json
from typing import Any

from gputwin.run.outputs import json_safe

CSS = """
:root { --fg:#1d2330; --muted:#5c6573; --line:#dde1e7; --bg:#f5f6f8; --card:#fff;
        --accent:#1f77b4; --bad:#d62728; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:#1d2330; color:#fff; padding:18px 28px; }
header h1 { margin:0 0 6px; font-size:22px; font-weight:600; word-break:break-all; }
header .meta { display:flex; flex-wrap:wrap; gap:6px 22px; color:#c7cdd8; }
header .meta b { color:#fff; font-weight:600; }
main { padding:18px 28px 40px; max-width:1500px; margin:0 auto; }
h2 { font-size:17px; margin:26px 0 10px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(170px,1fr)); gap:10px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px;
        padding:10px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase;
               letter-spacing:.03em; }
.card .value { font-size:22px; font-weight:600; margin-top:2px; white-space:nowrap; }
.card .sub { color:var(--muted); font-size:12px; }
.card.bad .value { color:var(--bad); }
.grid2 { display:grid; grid-template-columns:repeat(auto-fit,minmax(520px,1fr)); gap:12px; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px;
         padding:6px; min-width:0; }
.note { background:var(--card); border:1px dashed var(--line); border-radius:8px;
        padding:16px; color:var(--muted); }
.warning { background:#fff8e6; border:1px solid #e8b44c; border-radius:8px;
           padding:10px 14px; margin:10px 0; }
table { border-collapse:collapse; width:100%; background:var(--card);
        border:1px solid var(--line); margin-bottom:16px; font-size:13px; }
caption { text-align:left; font-weight:600; padding:6px 0; }
th, td { padding:5px 9px; border-bottom:1px solid var(--line); text-align:left;
         vertical-align:top; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.sortable th { cursor:pointer; user-select:none; background:#eef0f3; white-space:nowrap; }
table.sortable th::after { content:" \\2195"; color:#9aa3af; }
table.sortable th.asc::after { content:" \\2191"; color:var(--fg); }
table.sortable th.desc::after { content:" \\2193"; color:var(--fg); }
table.kv th { width:35%; font-weight:500; color:var(--muted); }
.tablewrap { overflow:auto; max-height:520px; margin-bottom:16px;
             border:1px solid var(--line); border-radius:8px; background:var(--card); }
.tablewrap table { margin:0; border:0; }
.tablewrap caption { padding:8px 10px; }
table.sortable thead th { position:sticky; top:0; z-index:1; }
details summary { cursor:pointer; font-weight:600; margin:20px 0 8px; }
footer { color:var(--muted); font-size:12px; margin-top:28px; }
"""

# Click a header to sort; numeric columns sort by their data-sort value (SI units).
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var num = th.dataset.type === "num";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col], r;
        if (num) {
          var p = parseFloat(x.dataset.sort), q = parseFloat(y.dataset.sort);
          p = isNaN(p) ? -Infinity : p; q = isNaN(q) ? -Infinity : q;
          r = p - q;
        } else {
          r = x.textContent.localeCompare(y.textContent);
        }
        return asc ? r : -r;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

PLOT_CONFIG = {"responsive": True, "displaylogo": False}


def script_json(obj: Any) -> str:
    """Deterministic JSON that is safe inside ``<script>``: ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(json_safe(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def figure_html(div_id: str, figure: dict[str, Any]) -> str:
    """A panel with a stable div id and the inline ``Plotly.newPlot`` call that fills it."""
    safe_id = html.escape(div_id)
    return (
        f'<div class="panel"><div id="{safe_id}" class="plot"></div>'
        # Plot after parsing: drawn inline, the first grid column would be sized before the
        # second exists and overflow it.
        '<script>document.addEventListener("DOMContentLoaded", function () {'
        f'Plotly.newPlot({script_json(div_id)}, {script_json(figure["data"])}, '
        f"{script_json(figure['layout'])}, {script_json(PLOT_CONFIG)});}});</script></div>"
    )


def note_html(text: str) -> str:
    """A placeholder panel explaining why a figure or table is absent."""
    return f'<div class="note">{html.escape(text)}</div>'


def warning_html(text: str) -> str:
    """A highlighted box for something the run's numbers depend on (escaped)."""
    return f'<div class="warning"><b>Warning:</b> {html.escape(text)}</div>'


def simple_table(head: list[str], rows: list[list[str]]) -> str:
    """A sortable ``<table>`` of text cells (escaped)."""
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f'<table class="sortable"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def skipped_rows_text(skipped: dict[str, int] | None) -> str | None:
    """``"N rows left out (reason: n, ...)"`` for a run's ``trace_rows_skipped`` (or a
    trace's ``skipped``), or ``None`` when every row of the trace was used."""
    if not skipped:
        return None
    total = sum(skipped.values())
    reasons = ", ".join(f"{reason}: {n:,}" for reason, n in skipped.items())
    return f"{total:,} row{'s' if total != 1 else ''} left out ({reasons})"
