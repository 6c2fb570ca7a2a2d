"""Sections of a cluster report that exist only with their scenario sections: faults and
checkpoints (``failures:``), fabric contention (``cluster.network.contention``), a torus'
optics (``cluster.optics``) and the GPU types of a mixed fleet (``cluster.node_groups``).
Each returns "" when absent."""

from __future__ import annotations

from html import escape
from typing import Any

from gputwin.reliability.faults import rates_line
from gputwin.report.page import simple_table


def reliability_html(summary: dict[str, Any]) -> str:
    """Faults, interruptions and lost GPU-hours by cause, spares, hot swaps and ETTR."""
    rel = summary.get("reliability")
    if not rel:
        return ""
    ettr = rel.get("ettr_cluster")
    jobs = rel["jobs_interrupted"]
    head = (f"<p>{rel['faults']:,} faults, {rel['interruptions']:,} interruptions "
            f"({jobs:,} job{'' if jobs == 1 else 's'}), {rel['lost_gpu_hours']:,.1f} GPU-hours "
            "lost, "
            f"{rel['node_down_hours']:,.1f} node-hours down; spares used "
            f"{rel['spares_used']:,}, slow nodes hot-swapped {rel.get('hot_swaps', 0):,}; "
            f"ETTR {'-' if ettr is None else format(ettr, '.3f')}.</p>")
    rows = [[name, f"{c['faults']:,}", f"{c['interruptions']:,}",
             f"{c['lost_gpu_hours']:,.1f}"] for name, c in rel["by_cause"].items()]
    table = simple_table(["cause", "faults", "interruptions", "lost GPU-h"], rows)
    rates = rel.get("fault_rates")
    if rates:
        head += f"<p>Fault rates: {escape(rates_line(rates))} (per model in the JSON).</p>"
    ck = rel.get("checkpoints")
    if ck:
        head += (f"<p>Checkpoints ({ck.get('mode', '-')} writes): {ck.get('checkpoints', 0):,} "
                 f"written ({(ck.get('bytes_written') or 0) / 1e12:,.1f} TB), "
                 f"{ck.get('writes_lost', 0):,} lost to a fault before they finished, "
                 f"{ck.get('stalled_gpu_hours') or 0:,.1f} GPU-hours stalled, storage busy "
                 f"{(ck.get('storage_busy_frac') or 0):.1%} of the time.</p>")
    return head + table


def faults_cli_line(summary: dict[str, Any]) -> str | None:
    """The ``faults`` row of ``simulate``'s table: faults, interruptions, GPU-hours lost,
    ETTR and the rates they were drawn at (``None`` without ``failures:``)."""
    rel = summary.get("reliability")
    if not rel:
        return None
    ettr = rel.get("ettr_cluster")
    rates = rel.get("fault_rates")
    return (f"{rel['faults']:,} faults, {rel['interruptions']:,} interruptions, "
            f"{rel['lost_gpu_hours']:,.1f} GPU-h lost, ETTR "
            f"{'-' if ettr is None else format(ettr, '.3f')}"
            + ("" if not rates else f"; rates: {rates_line(rates)}"))


def fabric_html(summary: dict[str, Any]) -> str:
    """Jobs crossing leaves, their speed against running alone, GPU-hours lost."""
    fab = summary.get("fabric")
    if not fab:
        return ""
    return (f"<p>{fab['jobs_crossing_leaves']:,} jobs crossed leaf switches; against running "
            f"alone on their leaves they ran at {fab['speed_vs_alone_mean']:.1%} of their "
            f"speed on average, losing {fab['contention_lost_gpu_hours']:,.1f} GPU-hours to "
            "contention on the uplinks.</p>")


def optics_line(summary: dict[str, Any]) -> str | None:
    """A torus cluster's optical fabric in one line (CLI and report); ``None`` without."""
    optics = summary.get("optics")
    if not optics:
        return None
    kind = ("optical circuit switched" if optics["switching"] == "ocs"
            else "statically wired")
    switches = f"{optics['num_ocs']} OCS, " if optics["num_ocs"] else ""
    watts = optics["switch_power_w"] + optics["optics_power_w"]
    return (f"{kind} torus slices; {switches}{optics['transceivers']:,} transceivers, "
            f"{watts / 1e3:,.1f} kW (in the site's IT power)")


def optics_html(summary: dict[str, Any]) -> str:
    line = optics_line(summary)
    return "" if line is None else f"<p>Jobs ran as {line}.</p>"


def node_groups_html(summary: dict[str, Any]) -> str:
    """Per GPU type of a mixed fleet: nodes, GPUs, jobs and GPU-hours."""
    groups = summary.get("node_groups")
    if not groups:
        return ""
    rows = [[g["gpu"], f"{g['num_nodes']:,}", f"{g['gpus']:,}", f"{g['jobs']:,}",
             f"{g['jobs_completed']:,}", f"{g['gpu_hours']:,.1f}"] for g in groups]
    return simple_table(["GPU type", "nodes", "GPUs", "jobs", "completed", "GPU-h"], rows)


def extras_html(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(title, body, id) of each section present."""
    out = []
    for title, body, sid in (("Faults and checkpoints", reliability_html(summary), "faults"),
                             ("Fabric contention", fabric_html(summary), "fabric"),
                             ("Optical fabric", optics_html(summary), "optics"),
                             ("GPU types", node_groups_html(summary), "gpu-types")):
        if body:
            out.append((title, body, sid))
    return out
