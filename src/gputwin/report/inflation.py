"""The report section of a packing experiment (``experiment: workload_inflation``): the
FGD paper's figure (Weng et al., USENIX ATC'23, Fig. 9a) — GPUs left unallocated and
fragmented GPUs, as shares of capacity, against the arrived GPU demand, one curve per
policy. Empty (``""``) for runs without ``summary["inflation"]``."""

from __future__ import annotations

import html
from typing import Any

from gputwin.report.figures import PALETTE, Figure, _layout, _r
from gputwin.report.page import figure_html, note_html


def inflation_figure(curves: dict[str, Any], key: str, title: str) -> Figure | None:
    data = []
    for i, (profile, c) in enumerate(curves.items()):
        values = c.get(key)
        if not values:
            continue
        cap = float(c["capacity_gpus"]) or 1.0
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": html.escape(profile),
            "x": [_r(100.0 * d) for d in c["demand"]],
            "y": [_r(100.0 * v / cap) for v in values],
            "line": {"color": PALETTE[i % len(PALETTE)]},
        })
    if not data:
        return None
    return {"data": data, "layout": _layout(title, "arrived GPU demand (% of capacity)",
                                            "% of GPU capacity")}


def inflation_section(summary: dict[str, Any]) -> tuple[str, bool]:
    """(HTML, whether a figure was drawn)."""
    curves = summary.get("inflation")
    if not isinstance(curves, dict) or not curves:
        return "", False
    panels = []
    for div, key, title in (("fig-inflation-unallocated", "idle_gpus",
                             "GPUs not allocated (capacity − placed)"),
                            ("fig-inflation-fragmented", "fragmented_gpus",
                             "Fragmented GPUs (FGD's measure)")):
        fig = inflation_figure(curves, key, title)
        panels.append(note_html(f"No {key} in this run.") if fig is None
                      else figure_html(div, fig))
    seeds = next(iter(curves.values())).get("seeds", 1)
    body = (f'<div class="grid2">{"".join(panels)}</div>'
            + note_html(f"Pods drawn from the trace with no departures (means over {seeds} "
                        "seed(s)); a pod that does not fit when it arrives fails. Compare "
                        "Weng et al., ATC'23, Fig. 9a."))
    return (f'<section id="inflation"><h2>Packing experiment (workload inflation)</h2>'
            f"{body}</section>"), True
