"""``gputwin simulate serve``'s summary on the terminal: one table per service, the RAG
stages, the sites of a run across sites, the site and power-supply lines, generation
services, timing and the files written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gputwin.units import format_grams

if TYPE_CHECKING:
    from gputwin.run.serving_results import ServingResult


def _failures_cell(f: dict[str, Any]) -> str:
    """``serving.failures`` in one cell: faults by cause, capacity lost, requests hit."""
    causes = ", ".join(f"{k} {v}" for k, v in f["by_cause"].items())
    plural = "" if f["faults"] == 1 else "s"
    return (f"{f['faults']:,} fault{plural}" + (f" ({causes})" if causes else "")
            + f", {f['replica_down_hours']:,.2f} replica-h down "
            f"({f['capacity_lost_frac']:.1%} of capacity); {f['requests_retried']:,} "
            f"requests retried, {f['requests_failed']:,} failed, "
            f"{f['output_tokens_lost']:,} output tokens lost")


def print_serving_summary(result: ServingResult, paths: dict[str, Path]) -> None:
    from rich.console import Console

    console = Console()
    for name, s in result.summary["services"].items():
        console.print(_service_table(result, name, s))
        for warning in s.get("warnings", []):
            console.print(f"[bold yellow]warning[/]: {name}: {warning}")
    rag = result.summary.get("rag")
    if rag:
        stages = ", ".join(f"{label} {rag[key]['p50'] * 1e3:,.1f}/{rag[key]['p99'] * 1e3:,.1f}"
                           for key, label in (("embed_s", "embed"), ("retrieve_s", "retrieve"),
                                              ("rerank_s", "rerank"), ("llm_ttft_s", "LLM TTFT"))
                           if rag[key]["p50"] is not None)
        console.print(f"RAG stages p50/p99 (ms): {stages}")
    if "sites" in result.summary:  # a run across sites: the user-side view
        _print_sites(console, result.summary)
    _print_site_and_tail(console, result, paths)


def drop_reasons_text(reasons: dict[str, int]) -> str:
    """Dropped requests by reason, most first: ``"20 prompt longer than ..."``."""
    return "; ".join(f"{n:,} {reason}" for reason, n in
                     sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


def _ms(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v * 1e3:,.1f} ms" if v is not None else f"{k} -"
                     for k, v in d.items() if k in ("mean", "p50", "p90", "p99"))


def _service_table(result: ServingResult, name: str, s: dict[str, Any]) -> Any:
    """One service's summary as a two-column rich table."""
    from rich.table import Table

    from gputwin.run.serving_summary import replica_shape_text

    table = Table(title=f"gputwin serve: {result.scenario_name} / {name} "
                        f"(seed {result.seed})", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    if s.get("model"):
        table.add_row("service", f"{s['model']}, {replica_shape_text(s)}, "
                                 f"{s.get('replicas_peak') or 1:g} at peak")
    warm = s.get("warmup_requests") or 0
    table.add_row("requests", f"{s['num_requests']:,}: {s['finished']:,} finished, "
                              f"{s['dropped']:,} dropped, {s['in_flight']:,} in flight"
                  + (f" (after {warm:,} warm-up, not measured)" if warm else ""))
    if s.get("dropped_by_reason"):
        table.add_row("dropped", drop_reasons_text(s["dropped_by_reason"]))
    for label, key in (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("ITL", "itl_s"),
                       ("end-to-end", "e2e_s")):
        table.add_row(label, _ms(s[key]))
    table.add_row("throughput", f"{s['output_tokens_per_s']:,.0f} output tok/s, "
                                f"{s['throughput_rps']:,.2f} req/s")
    att = s["slo_attainment_frac"]
    table.add_row("goodput", "- (no SLO: give --ttft-slo/--tpot-slo)" if att is None else
                  f"{s['goodput_active_rps']:,.2f} req/s meeting the SLO ({att:.1%})")
    table.add_row("KV cache", f"mean {s['kv_used_frac_mean'] or 0:.1%}, peak "
                              f"{s['kv_used_frac_peak'] or 0:.1%}; prefix hits "
                              f"{s['prefix_cache_hit_frac']:.1%}; "
                              f"{s['num_preemptions']:,} preemptions")
    if s.get("failures") is not None:
        table.add_row("failures", _failures_cell(s["failures"]))
    e = s["energy_per_output_token_j"]
    c = s["cost_per_million_output_tokens_usd"]
    table.add_row("energy / cost", ("-" if e is None else f"{e:.3f} J/output token")
                  + ", " + ("-" if c is None else f"${c:,.2f} per M output tokens"))
    table.add_row("carbon / water", f"{format_grams(s['co2e_g'])} CO2e "
                  f"({format_grams(s['co2e_embodied_g'])} embodied), {s['water_l']:,.2f} L")
    return table


def _print_site_and_tail(console: Any, result: ServingResult, paths: dict[str, Path]) -> None:
    """The site and power-supply lines, generation services, timing and files written."""
    site = result.summary.get("site") or {}
    if site:
        console.print(f"site {site['region']} ({', '.join(site['cooling'])} cooling, PUE "
                      f"{site['pue']:.2f}); cost: {site['cost_basis']}")
        from gputwin.report.energy import supply_cli_line

        supply_line = supply_cli_line(site.get("supply"))
        if supply_line is not None:
            console.print(f"power supply: {supply_line}")
    for name, g in (result.summary.get("generation") or {}).items():
        console.print(_generation_line(name, g))
    from gputwin.report.page import skipped_rows_text

    skipped = skipped_rows_text(result.summary.get("trace_rows_skipped"))
    if skipped is not None:
        console.print(f"trace: {skipped}")
    reuse = result.summary.get("trace_prefix_reuse_frac")
    if reuse is not None:
        console.print(f"trace: {reuse:.1%} of prompt tokens are in prefix blocks an earlier "
                      "request sent (the hit rate of an unbounded prefix cache)")
    console.print(f"simulated {result.end_time_s:,.1f} s in {result.wall_time_s:.2f} s wall "
                  f"({result.num_events:,} events)")
    for path in paths.values():
        console.print(f"wrote {path}")


def _print_sites(console: Any, s: dict[str, Any]) -> None:
    """User-side latency, cost and where requests went (runs with ``sites:``)."""
    from rich.table import Table

    table = Table(title=f"sites: placement {s['placement']}, routing {s['routing']}",
                  title_justify="left")
    for col in ("site", "kind", "grid", "requests", "GPU-h", "cost $", "backhaul GB"):
        table.add_column(col, justify="left" if col in ("site", "kind", "grid") else "right")
    for name, r in s["sites"].items():
        cost = "-" if r["cost_usd"] is None else f"{r['cost_usd']:,.2f}"
        table.add_row(name, r["kind"], r["grid"], f"{r['requests_served']:,.0f}",
                      f"{r['gpu_hours']:,.2f}", cost, f"{r['backhaul_bytes'] / 1e9:,.3f}")
    console.print(table)
    per_m = s["cost_per_million_tokens_usd"]
    console.print(f"user-side end-to-end p50 {s['e2e_p50_s']:.3f} s, p99 {s['e2e_p99_s']:.3f} s"
                  f"; cost per million tokens "
                  + ("-" if per_m is None else f"${per_m:,.2f}"))
    for line in s.get("explanation", []):
        console.print(line)
    for o in (s.get("failures") or {}).get("site_outages", []):
        console.print(f"site outage: {o['site']} down {o['start_s'] / 60:,.1f}-"
                      f"{o['end_s'] / 60:,.1f} min, {o['replicas_down']} replicas; "
                      f"{o['requests_retried']:,} requests retried elsewhere, "
                      f"{o['requests_failed']:,} failed")


def _generation_line(name: str, g: dict[str, Any]) -> str:
    """One line per image/video generation service."""
    lat = g["latency_s"]

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f} s"

    out = (f"{name} ({g['model']}, {g['replicas']} x {g['gpus_per_replica']} {g['gpu']}): "
           f"{g['finished']:,}/{g['num_requests']:,} delivered; latency p50 {sec(lat['p50'])}, "
           f"p90 {sec(lat['p90'])}, p99 {sec(lat['p99'])}; GPUs busy "
           f"{(g['gpu_utilisation_frac'] or 0):.0%}")
    if g["gpu_seconds_per_video_second"] is not None:
        out += f"; {g['gpu_seconds_per_video_second']:,.0f} GPU-s per video second"
    if g["cost_per_video_second_usd"] is not None:
        out += f"; ${g['cost_per_video_second_usd']:.2f} per generated second"
    elif g["cost_per_sample_usd"] is not None:
        out += f"; ${g['cost_per_sample_usd']:.3f} per sample"
    return out
