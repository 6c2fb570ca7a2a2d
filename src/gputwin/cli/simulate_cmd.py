"""``gputwin simulate``: run a scenario (training cluster or LLM serving) and write outputs.

``gputwin simulate [SCENARIO] ...`` runs a scenario file or bundled name as before (a file
with a top-level ``serving:`` section is a serving scenario); ``gputwin simulate serve
...`` builds a serving scenario from options. The group falls back to the scenario
command whenever the first argument is not a subcommand name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gputwin.cli.options import NO_TIMING_HELP, OUT_HELP, OUTPUTS_HELP, OutPath

if TYPE_CHECKING:
    from gputwin.run.results import SimulationResult
    from gputwin.run.serving_results import ServingResult


class DefaultCommandGroup(click.Group):
    """A group whose default subcommand (``scenario``) runs when no subcommand is named."""

    default_command = "scenario"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[SCENARIO] [OPTIONS] | serve [OPTIONS]")


@click.group(cls=DefaultCommandGroup)
def simulate() -> None:
    """Run SCENARIO (a YAML file or a bundled name; default: the bundled 'default'), or
    `serve` an LLM fleet built from options. See `gputwin simulate scenario --help`."""


@simulate.command("scenario")
@click.argument("scenario", required=False)
@click.option("--out", "out_dir", default=None,
              type=OutPath(file_okay=False), help=OUT_HELP)
@click.option("--outputs", default=None, metavar="LIST", help=OUTPUTS_HELP)
@click.option("--no-timing", is_flag=True, help=NO_TIMING_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field, e.g. --set cluster.num_nodes=64 (repeatable).")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary table.")
def scenario_cmd(scenario: str | None, out_dir: Path | None, outputs: str | None,
                 no_timing: bool, overrides: tuple[str, ...], seed: int | None,
                 as_json: bool, quiet: bool) -> None:
    """Run SCENARIO (a YAML file or a bundled name; default: the bundled 'default')."""
    from gputwin.scenario.load import resolve_scenario_path
    from gputwin.scenario.serving import is_serving_file

    sets = list(overrides)
    if seed is not None:
        sets.append(f"seed={seed}")
    path = resolve_scenario_path(scenario)
    if path.is_file() and is_serving_file(path):
        from gputwin.scenario.serving import load_serving_scenario

        run_serving(load_serving_scenario(path, sets), out_dir, as_json, quiet,
                    no_timing=no_timing, outputs=outputs)
        return
    from gputwin.run.outputs import (
        DEFAULT_OUTPUTS,
        new_run_dir,
        parse_outputs,
        summary_json,
        write_outputs,
    )
    from gputwin.run.simulate import simulate as run_simulation
    from gputwin.scenario.load import load_scenario

    wanted = parse_outputs(outputs, DEFAULT_OUTPUTS, as_json)
    sc = load_scenario(scenario, sets)
    show_progress = not (quiet or as_json)
    result = _run_with_progress(sc, run_simulation) if show_progress else run_simulation(sc)
    if no_timing:
        result = drop_timing(result)
    paths = write_outputs(result, out_dir or new_run_dir("simulate"), render_html,
                          command="simulate", timing=not no_timing,
                          outputs=wanted) if wanted else {}
    if as_json:
        click.echo(summary_json(result, timing=not no_timing), nl=False)
    elif not quiet:
        _print_summary(result, paths)


def _serve_command() -> click.Command:
    from gputwin.cli.serve_cmd import serve

    return serve


simulate.add_command(_serve_command(), "serve")


def drop_timing(result: Any) -> Any:
    """``result`` without wall-clock values (``--no-timing``): wall time 0, summary fields
    such as ``wall_time_s`` left out."""
    import dataclasses

    from gputwin.run.outputs import without_timing

    return dataclasses.replace(result, wall_time_s=0.0,
                               summary=without_timing(result.summary))


def run_serving(sc: Any, out_dir: Path | None, as_json: bool, quiet: bool,
                no_timing: bool = False, outputs: str | None = None) -> None:
    """Run a validated serving scenario, write the files ``outputs`` asks for (the
    ``--outputs`` text) and print the summary."""
    from gputwin.run.outputs import SERVING_DEFAULT_OUTPUTS, new_run_dir, parse_outputs
    from gputwin.run.serving_outputs import serving_summary_json, write_serving_outputs
    from gputwin.run.simulate_serve import simulate_serving

    wanted = parse_outputs(outputs, SERVING_DEFAULT_OUTPUTS, as_json)
    show = not (quiet or as_json)
    result = _run_with_progress(sc, simulate_serving) if show else simulate_serving(sc)
    if no_timing:
        result = drop_timing(result)
    paths = write_serving_outputs(result, out_dir or new_run_dir("simulate serve"),
                                  render_serving_html, timing=not no_timing,
                                  outputs=wanted) if wanted else {}
    if as_json:
        click.echo(serving_summary_json(result, timing=not no_timing), nl=False)
    elif not quiet:
        from gputwin.cli.serve_output import print_serving_summary

        print_serving_summary(result, paths)


def render_serving_html(result: ServingResult) -> str:
    from gputwin.report.serving import render_serving_report

    return render_serving_report(result)


def render_html(result: SimulationResult) -> str:
    """The HTML report (from :mod:`gputwin.report.html`)."""
    from gputwin.report.html import render_report

    text: str = render_report(result)
    return text


def _run_with_progress(sc: Any, run_simulation: Any) -> Any:
    """Run with a progress bar (percentage and ETA of the horizon) on a terminal, or a
    plain line every 10 s when stderr is piped."""
    from gputwin.cli.progress import ProgressReporter
    from gputwin.units import format_duration

    with ProgressReporter("simulating", sc.horizon,
                          lambda now_s: f"t = {format_duration(now_s)}") as report:
        return run_simulation(sc, progress=report)


def _print_summary(result: SimulationResult, paths: dict[str, Path]) -> None:
    from rich.console import Console

    from gputwin.run.inflation_run import inflation_lines

    s = result.summary
    console = Console()
    console.print(_summary_table(result))
    for line in _shared_fleet_lines(s):  # training beside inference (a `serving:` section)
        console.print(line)
    for line in inflation_lines(s):  # a packing experiment (experiment: workload_inflation)
        console.print(line)
    planned = _planned_line(s.get("planned_layouts") or [])
    if planned is not None:
        console.print(planned)
    for path in paths.values():
        console.print(f"wrote {path}")


def _summary_table(result: SimulationResult) -> Any:
    """The run's key figures as a two-column rich table."""
    from rich.table import Table

    from gputwin.units import format_duration

    s = result.summary

    def dur(value: float | None) -> str:
        return "-" if value is None else format_duration(value)

    table = Table(title=f"gputwin simulate: {result.scenario_name} (seed {result.seed})",
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    counts = s["jobs_by_status"]
    table.add_row("jobs", f"{s['num_jobs']}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for status in ("failed", "queued"):
        reasons = s.get(f"{status}_by_reason") or {}
        if reasons:
            table.add_row(status, "; ".join(f"{n} {why}" for why, n in reasons.items()))
    # JCT counts completed jobs, wait the jobs that started: say how many when not all
    started = sum(1 for j in result.jobs if j.start_time_s is not None)
    for key, label, n in (("jct_s", "JCT", counts["completed"]), ("wait_s", "wait", started)):
        d = s[key]
        of = "" if n == s["num_jobs"] else f" ({n} of {s['num_jobs']} jobs)"
        table.add_row(label, f"mean {dur(d['mean'])}, p50 {dur(d['p50'])}, "
                             f"p95 {dur(d['p95'])}, p99 {dur(d['p99'])}{of}")
    alloc = s["gpu_allocation_mean_frac"]
    table.add_row("GPU allocation", "-" if alloc is None else
                  f"{alloc:.1%} mean of {result.total_gpus} GPUs, {s['gpu_hours']:,.0f} GPU-h")
    table.add_row("makespan", dur(s["makespan_s"]))
    wall = f" in {result.wall_time_s:.2f} s wall" if result.wall_time_s > 0 else ""
    table.add_row("simulated", f"{dur(result.end_time_s)}{wall} ({result.num_events:,} events)")
    energy = s["energy_j"]
    table.add_row("job energy", "-" if energy is None else
                  f"{energy / 3.6e9:,.1f} MWh IT ({s['energy_jobs_counted']} modelled jobs)")
    for label, text in _optional_rows(s):
        table.add_row(label, text)
    return table


def _optional_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The table rows only some runs have: faults, site energy, optics, power supply,
    trace rows left out."""
    from gputwin.report.cluster_extras import faults_cli_line, optics_line
    from gputwin.report.energy import energy_cli_line, supply_cli_line
    from gputwin.report.page import skipped_rows_text

    rows = [("faults", faults_cli_line(s)), ("site", energy_cli_line(s)),
            ("optics", optics_line(s)),
            ("power supply", supply_cli_line((s.get("site") or {}).get("supply"))),
            ("trace", skipped_rows_text(s.get("trace_rows_skipped")))]
    return [(label, text) for label, text in rows if text is not None]


def _planned_line(planned: list[dict[str, Any]]) -> str | None:
    """The layouts the planner chose for templates without one (``None``: none)."""
    if not planned:
        return None
    shown = ", ".join(f"#{p['template']} on {p['num_gpus']}: tp{p['tp']} pp{p['pp']} "
                      f"dp{p['num_gpus'] // (p['tp'] * p['pp'] * p['cp'])}"
                      for p in planned[:4])
    more = f" and {len(planned) - 4} more" if len(planned) > 4 else ""
    return f"layouts planned (templates without one): {shown}{more}"


def _shared_fleet_lines(s: dict[str, Any]) -> list[str]:
    """The serving side and the sharing of a shared-fleet run (none for other runs)."""
    f = s.get("fleet")
    if not isinstance(f, dict):
        return []
    req = s["serving"]["requests_by_status"]
    att = f["slo_attainment_frac"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1e3:,.0f} ms"

    from gputwin.cli.serve_output import drop_reasons_text
    from gputwin.report.page import skipped_rows_text

    skipped = skipped_rows_text(s["serving"].get("trace_rows_skipped"))
    reasons: dict[str, int] = {}
    for svc in s["serving"].get("services", {}).values():
        for reason, n in (svc.get("dropped_by_reason") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
    return ([] if skipped is None else [f"serving trace: {skipped}"]) + [
        f"serving: {s['serving']['num_requests']:,} requests ({req['finished']:,} finished, "
        f"{req['dropped']:,} dropped, {req['in_flight']:,} in flight); p99 TTFT "
        f"{ms(f['ttft_p99_s'])}, TPOT {ms(f['tpot_p99_s'])}; SLO met "
        + ("-" if att is None else f"{att:.1%}"),
        *([f"serving dropped: {drop_reasons_text(reasons)}"] if reasons else []),
        f"fleet: {f['serving_gpu_hours']:,.0f} GPU-h serving, {f['training_gpu_hours']:,.0f} "
        f"training; {f['replicas_started']:,} replicas started; "
        f"training preempted by serving {f['training_preemptions_by_serving']:,} times "
        f"({f['training_lost_gpu_hours']:,.1f} GPU-h of work lost)",
    ]

