"""``gputwin workload stats|fit TRACE --format F``: what a trace holds, and a fitted generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gputwin.cli.options import emit_json
from gputwin.errors import InputError
from gputwin.yaml_io import parse_yaml_value


@click.group("workload")
def workload() -> None:
    """Read real cluster and LLM request traces; fit synthetic generators to cluster ones."""


_FORMAT = click.option("--format", "fmt", required=True,
                       help="cluster traces: philly_csv | philly_json | openb | pai2020 | "
                            "helios | swf; LLM request traces (stats only): azure | "
                            "mooncake | burstgpt")
_SET = click.option("--set", "settings", multiple=True, metavar="OPTION=VALUE",
                    help="reader option (YAML value), e.g. --set cluster=0e4a51, "
                         "--set end=7d; repeatable")
_JSON = click.option("--json", "as_json", is_flag=True, help="print JSON")


@workload.command("stats")
@click.argument("trace", type=click.Path(path_type=Path))
@_FORMAT
@_SET
@_JSON
def stats(trace: Path, fmt: str, settings: tuple[str, ...], as_json: bool) -> None:
    """Jobs, GPU-hours, share by GPU count, median duration and queueing of TRACE; for an
    LLM request trace, requests, arrival rate, prompt/output lengths and prefix reuse."""
    from gputwin.errors import UnknownNameError
    from gputwin.workload.llm_traces import LLM_TRACE_FORMATS
    from gputwin.workload.traces import trace_formats

    if fmt not in LLM_TRACE_FORMATS and fmt not in trace_formats():
        raise UnknownNameError("trace format", fmt, [*trace_formats(), *LLM_TRACE_FORMATS],
                               where="--format")
    if fmt in LLM_TRACE_FORMATS:
        llm = _llm_stats(trace, fmt, settings)
        if as_json:
            emit_json(llm)
        else:
            click.echo(_llm_stats_text(llm))
        return
    from gputwin.workload.trace_stats import trace_stats

    w = _read(trace, fmt, settings)
    out = {"format": w.format, "path": w.path, "skipped": w.skipped,
           "nodes": len(w.nodes), "node_gpus": w.num_node_gpus, **trace_stats(w.jobs)}
    if as_json:
        emit_json(out)
    else:
        click.echo(_stats_text(out))


@workload.command("fit")
@click.argument("trace", type=click.Path(path_type=Path))
@_FORMAT
@_SET
@_JSON
@click.option("--duration-method", type=click.Choice(["median_mean", "log_moments"]),
              default="median_mean", show_default=True, help="lognormal fitting method")
def fit(trace: Path, fmt: str, settings: tuple[str, ...], as_json: bool,
        duration_method: str) -> None:
    """Fit a synthetic generator to TRACE; print its parameters and the trace statistics."""
    from gputwin.workload.llm_traces import LLM_TRACE_FORMATS

    if fmt in LLM_TRACE_FORMATS:
        raise InputError(f"fit reads cluster traces; an {fmt} trace feeds `simulate serve "
                         "--trace` or `--length-trace` directly (see `workload stats`)",
                         where="--format")
    from gputwin.workload.fit import fit_workload
    from gputwin.workload.trace_stats import trace_stats

    w = _read(trace, fmt, settings)
    fitted = fit_workload(w.jobs, origin_s_of_day=w.origin_s_of_day,
                          duration_method=duration_method)  # type: ignore[arg-type]
    out = {"trace": {"format": w.format, "path": w.path, **trace_stats(w.jobs)},
           "fit": fitted.to_dict()}
    if as_json:
        emit_json(out)
        return
    click.echo(_stats_text(out["trace"]))
    click.echo("")
    click.echo(_fit_text(out["fit"]))


# reader options of an LLM trace and the YAML value types they take
_LLM_OPTIONS: dict[str, tuple[type, ...]] = {
    "max_requests": (int,), "speedup": (int, float), "use_prefix_hashes": (bool,),
    "model": (str,), "log_type": (str,)}


def _llm_stats(trace: Path, fmt: str, settings: tuple[str, ...]) -> dict[str, Any]:
    """What an LLM request trace holds, with the rows its reader skipped."""
    from gputwin.workload.llm_traces import llm_trace_stats, read_llm_trace

    options = _options(settings)
    unknown = sorted(set(options) - set(_LLM_OPTIONS))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)} for an {fmt} trace; "
                         f"known: {', '.join(_LLM_OPTIONS)}", where="--set")
    for key, value in options.items():
        kinds = _LLM_OPTIONS[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise InputError(f"expected {' or '.join(k.__name__ for k in kinds)}, got "
                             f"{value!r}", where=f"--set {key}")
        if key == "max_requests" and isinstance(value, int) and value < 1:
            raise InputError(f"expected a positive count, got {value}", where="--set max_requests")
    path = _located(trace)
    skipped: dict[str, int] = {}
    reqs = read_llm_trace(fmt, path, skipped=skipped, **options)
    return {"format": fmt, "path": str(path), "skipped": skipped, **llm_trace_stats(reqs)}


def _llm_stats_text(s: dict[str, Any]) -> str:
    def tokens(d: dict[str, float]) -> str:
        return (f"mean {d['mean']:,.0f}, median {d['p50']:,.0f}, p90 {d['p90']:,.0f}, "
                f"p99 {d['p99']:,.0f}, max {d['max']:,.0f}")

    from gputwin.report.page import skipped_rows_text

    skipped = skipped_rows_text(s["skipped"])
    rate = s["rate_per_s"]
    peak = s["peak_minute_rate_per_s"]
    lines = [
        f"trace        {s['path']} ({s['format']})",
        f"requests     {s['num_requests']:,} over {_fmt_s(s['span_s'])}"
        + (f"  ({skipped})" if skipped else ""),
        "rate         " + ("-" if rate is None else f"{rate:,.2f} req/s mean")
        + ("" if peak is None else f", {peak:,.2f} req/s in the busiest minute"),
        f"prompt       {tokens(s['prompt_tokens'])} tokens",
        f"output       {tokens(s['output_tokens'])} tokens",
    ]
    if s["prefix_reuse_frac"] is not None:
        lines.append(f"prefix reuse {s['prefix_reuse_frac']:.1%} of prompt tokens in blocks "
                     "an earlier request sent")
    return "\n".join(lines)


def _options(settings: tuple[str, ...]) -> dict[str, Any]:
    """``--set OPTION=VALUE`` pairs, values parsed as YAML."""
    options: dict[str, Any] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"expected OPTION=VALUE, got {item!r}", where="--set")
        options[key.strip()] = parse_yaml_value(value, f"--set {item}") if value.strip() else None
    return options


def _located(trace: Path) -> Path:
    """``trace`` as given, else under the data folder (none: the reader says so)."""
    from gputwin.scenario.paths import data_candidates

    cands = data_candidates(trace, Path.cwd())  # cwd, then the data folder
    return next((c for c in cands if c.exists()), trace)


def _read(trace: Path, fmt: str, settings: tuple[str, ...]) -> Any:
    from gputwin.workload.traces import read_trace

    return read_trace(fmt, _located(trace), **_options(settings))


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    from gputwin.units import format_duration

    return format_duration(seconds)


def _stats_text(s: dict[str, Any]) -> str:
    if not s.get("num_jobs"):
        return f"{s.get('path', '')}: no jobs"
    from gputwin.report.page import skipped_rows_text

    shares = ", ".join(f"{g}: {v:.1%}" for g, v in s["share_by_num_gpus"].items())
    skipped = skipped_rows_text({k: v for k, v in (s.get("skipped") or {}).items() if v})
    lines = [
        f"trace        {s['path']} ({s['format']})",
        f"jobs         {s['num_jobs']:,} over {_fmt_s(s['span_s'])}"
        + (f"  ({skipped})" if skipped else ""),
        f"GPU-hours    {s['gpu_hours']:,.0f}",
        f"by GPUs      {shares}",
        f"fractional   {s['fractional_share']:.1%} of jobs",
        f"duration     median {_fmt_s(s['median_duration_s'])}, "
        f"mean {_fmt_s(s['mean_duration_s'])}, p90 {_fmt_s(s['p90_duration_s'])}",
        f"queueing     median {_fmt_s(s['median_wait_s'])}, mean {_fmt_s(s['mean_wait_s'])}",
    ]
    if s.get("nodes"):
        lines.append(f"nodes        {s['nodes']:,} with {s['node_gpus']:,} GPUs")
    return "\n".join(lines)


def _fit_text(f: dict[str, Any]) -> str:
    a = f["arrival"]
    unit = "operational time" if a["hourly_rate_per_s"] else "s"
    lines = [f"arrivals     {a['family']} gaps, mean {a['mean']:.4g} ({unit}), "
             f"CV {a['cv']:.3g}, shape {a['shape']:.3g}"]
    if a["hourly_rate_per_s"]:
        rates = " ".join(f"{r * 3600:.0f}" for r in a["hourly_rate_per_s"])
        lines.append(f"per hour     {rates}  (jobs/h, hours 0-23)")
    gpus = ", ".join(f"{g}: {p:.1%}" for g, p in f["num_gpus"].items())
    lines.append(f"GPU counts   {gpus}")
    lines.append(f"fractional   {f['fractional_share']:.1%} of 1-GPU jobs "
                 f"({len(f['gpu_milli'])} distinct gpu_milli values)")
    for d in [*f["durations"], f["overall_duration"]]:
        hi = "+" if d["max_gpus"] > 1 << 20 else f"-{d['max_gpus']}"
        label = "all" if d is f["overall_duration"] else (
            "1 GPU" if d["max_gpus"] == 1 else f"{d['min_gpus']}{hi} GPUs")
        lines.append(f"duration     {label:<10} lognormal median {_fmt_s(d['median_s'])}, "
                     f"sigma {d['sigma']:.2f}, mean {_fmt_s(d['mean_s'])} (n={d['n']:,})")
    return "\n".join(lines)
