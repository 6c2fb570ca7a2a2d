"""The self-contained HTML report of one simulation run.

:func:`render_report` turns a :class:`~gputwin.run.results.SimulationResult` into a single
HTML page: header, key-figure cards, plots (plotly.js embedded once, inline, so the file
opens from disk with no network), tables of notable jobs and the raw summary. The output
is a pure function of the result — no "generated at" time, fixed element ids — so two
renders of the same result are byte-identical.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from gputwin import __version__
from gputwin.report import figures, tables
from gputwin.report.cluster_extras import extras_html
from gputwin.report.downsample import DEFAULT_MAX_POINTS
from gputwin.report.energy import energy_section
from gputwin.report.fmt import fmt_count, fmt_duration, fmt_energy, fmt_pct
from gputwin.report.inflation import inflation_section
from gputwin.report.page import CSS, SORT_JS, figure_html, note_html, skipped_rows_text
from gputwin.report.queues import tenancy_tables
from gputwin.report.shared_fleet import shared_fleet_section
from gputwin.report.stats import KeyFigures, key_figures
from gputwin.run.results import SimulationResult


@dataclass(frozen=True, slots=True)
class Card:
    label: str
    value: str
    sub: str = ""
    bad: bool = False


def _not_submitted(result: SimulationResult) -> str:
    """The queued card's note: jobs whose submit time lies past the run's end."""
    n = sum(1 for j in result.jobs if j.submit_time_s > result.end_time_s)
    return f"{n:,} not submitted by the end" if n else ""


def _cards(result: SimulationResult, k: KeyFigures) -> list[Card]:
    counts = k.status_counts
    n_done = counts.get("completed", 0)
    capacity_gpu_h = result.total_gpus * result.end_time_s / 3600.0
    cards = [
        Card("jobs", fmt_count(k.num_jobs), "submitted"),
        Card("completed", fmt_count(n_done),
             fmt_pct(n_done / k.num_jobs) + " of jobs" if k.num_jobs else ""),
        Card("failed", fmt_count(counts.get("failed", 0)), "see table below"
             if counts.get("failed", 0) else "", bad=counts.get("failed", 0) > 0),
        Card("running at end", fmt_count(counts.get("running", 0))),
        Card("queued at end", fmt_count(counts.get("queued", 0)), _not_submitted(result)),
        Card("mean JCT", fmt_duration(k.mean_jct_s), f"{n_done:,} completed jobs"),
        Card("p95 JCT", fmt_duration(k.p95_jct_s), "submit → end"),
        Card("mean wait", fmt_duration(k.mean_wait_s), f"{k.num_started:,} started jobs"),
        Card("p95 wait", fmt_duration(k.p95_wait_s), "submit → start"),
        Card("GPU allocation", fmt_pct(k.mean_allocated_frac),
             f"time-weighted mean; peak {fmt_pct(k.peak_allocated_frac)}"),
        Card("GPU-hours", fmt_count(round(k.gpu_hours, 1)),
             f"of {fmt_count(round(capacity_gpu_h, 1))} available" if capacity_gpu_h > 0
             else ""),
    ]
    if k.energy_j is not None:
        cards.append(Card("job energy", fmt_energy(k.energy_j), "IT energy of modelled jobs"))
    return cards


def _card_html(card: Card) -> str:
    cls = "card bad" if card.bad else "card"
    sub = f'<div class="sub">{html.escape(card.sub)}</div>' if card.sub else ""
    return (f'<div class="{cls}"><div class="label">{html.escape(card.label)}</div>'
            f'<div class="value">{html.escape(card.value)}</div>{sub}</div>')


def _header(result: SimulationResult) -> str:
    speed = (f"{result.end_time_s / result.wall_time_s:,.0f}× real time"
             if result.wall_time_s > 0 and result.end_time_s > 0 else "")
    items = [
        ("seed", str(result.seed)),
        ("cluster", f"{result.total_gpus:,} GPUs"),
        ("simulated horizon", fmt_duration(result.end_time_s)),
        ("wall time", fmt_duration(result.wall_time_s)),  # 0 with --no-timing: left out
        ("events", fmt_count(result.num_events)),
    ]
    items = [(k, v) for k, v in items if k != "wall time" or result.wall_time_s > 0]
    if speed:
        items.append(("speed", speed))
    skipped = skipped_rows_text(result.summary.get("trace_rows_skipped"))
    if skipped is not None:
        items.append(("trace", skipped))
    meta = "".join(f"<span>{html.escape(k)} <b>{html.escape(v)}</b></span>" for k, v in items)
    return (f"<header><h1>gputwin run: {html.escape(result.scenario_name)}</h1>"
            f'<div class="meta">{meta}</div></header>')


def _section(title: str, body: str, section_id: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{body}</section>'


def _grid(*panels: str) -> str:
    return '<div class="grid2">' + "".join(panels) + "</div>"


def _plots(result: SimulationResult, max_points: int) -> tuple[str, bool]:
    """The plot sections and whether any figure was drawn (plotly.js needed)."""
    drawn = False

    def panel(div_id: str, fig: figures.Figure | None, missing: str) -> str:
        nonlocal drawn
        if fig is None:
            return note_html(missing)
        drawn = True
        return figure_html(div_id, fig)

    n_samples = len(result.timeline.time_s)
    cluster = _grid(
        panel("fig-gpu-allocation", figures.gpu_allocation_figure(result, max_points),
              "No GPU allocation timeline in this run."
              if n_samples else "No timeline samples were recorded in this run."),
        panel("fig-queue-running", figures.queue_running_figure(result, max_points),
              "No queue or running-jobs timeline in this run."),
    )
    if n_samples > max_points:
        cluster += note_html(
            f"The timeline has {n_samples:,} samples; plots show at most {max_points:,} per "
            "series (first, last, lowest and highest sample of each interval kept). The key "
            "figures above use every sample.")
    scatter, stride = figures.job_times_figure(result)
    jobs = _grid(
        panel("fig-job-times", scatter, "No job has both started and finished yet."),
        panel("fig-jct-cdf", figures.jct_cdf_figure(result), "No job completed in this run."),
    )
    if stride > 1:
        jobs += note_html(f"Wait vs run time shows 1 in {stride} finished jobs (in record "
                          "order) to keep the page responsive; the CDF and key figures use all.")
    hours = _grid(
        panel("fig-gpu-hours-kind", figures.gpu_hours_figure(result, "kind"),
              "No GPU time was used by any job."),
        panel("fig-gpu-hours-tenant", figures.gpu_hours_figure(result, "tenant"),
              "No GPU time was used by any job."),
    )
    body = (_section("Cluster over time", cluster, "cluster")
            + _section("Job times", jobs, "job-times")
            + _section("Where the GPU-hours went", hours, "gpu-hours"))
    return body, drawn


def _tables(result: SimulationResult) -> str:
    parts = [
        tables.slowest_jobs_table(result) or note_html("No job completed in this run."),
        tables.longest_waiting_table(result) or note_html("No job has waited."),
        tables.failed_jobs_table(result) or note_html("No job failed."),
    ]
    body = "".join(f'<div class="tablewrap">{p}</div>' for p in parts)
    return _section("Notable jobs", body, "jobs")


def render_report(result: SimulationResult, *, max_points: int = DEFAULT_MAX_POINTS) -> str:
    """One self-contained HTML page describing ``result``.

    ``max_points`` caps the samples per timeline series drawn in plots (see
    :mod:`gputwin.report.downsample`); key figures always use all data. Never raises on
    empty runs (no jobs, no timeline, nothing completed); output is deterministic.
    Raises ``ValueError`` if ``max_points < 4``.
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    k = key_figures(result)
    cards = '<div class="cards">' + "".join(_card_html(c) for c in _cards(result, k)) + "</div>"
    if not result.jobs:
        cards += note_html("This run has no jobs.")
    plots, drawn = _plots(result, max_points)
    packing, drawn_packing = inflation_section(result.summary)  # "" without an experiment
    shared, drawn_shared = shared_fleet_section(result)  # "" without a `serving:` section
    plots = packing + shared + plots
    drawn = drawn or drawn_packing or drawn_shared
    power_carbon, drawn_energy = energy_section(result, max_points)  # "" without a site
    drawn = drawn or drawn_energy
    tenancy = tenancy_tables(result.summary)  # "" without queues or entitlements
    if tenancy:
        tenancy = _section("Queues and tenants", tenancy, "tenancy")
    tenancy += "".join(_section(title, body, sid)  # faults, fabric, GPU types when present
                       for title, body, sid in extras_html(result.summary))
    summary = tables.summary_table(result.summary)
    summary_html = (f"<details><summary>Run summary (raw values, SI units)</summary>{summary}"
                    "</details>" if summary else "")
    plotly_js = ""
    if drawn:
        from plotly.offline import get_plotlyjs  # heavy; imported only when rendering

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    title = html.escape(f"gputwin report — {result.scenario_name}")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style>{plotly_js}</head><body>"
        f"{_header(result)}<main>"
        + _section("Key figures", cards, "key-figures")
        + plots
        + power_carbon
        + tenancy
        + _tables(result)
        + summary_html
        + f"<footer>gputwin {html.escape(__version__)} · times are simulated unless marked "
        "wall time · JCT = submit → end of completed jobs; wait = submit → start.</footer>"
        f"</main><script>{SORT_JS}</script></body></html>\n"
    )
