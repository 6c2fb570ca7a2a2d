"""``gputwin compare SCENARIO --set key=a,b ... --seeds N``: variants side by side.

Every variant is validated before the first run (a bad key or value exits 2 with one
line and writes nothing); runs go to ``--jobs`` worker processes; ``--json`` prints the
comparison machine-readably; ``--out DIR`` writes compare.json, compare-runs.csv and
compare.html atomically. See docs/compare.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gputwin.cli.options import NO_TIMING_HELP, OutPath

if TYPE_CHECKING:
    from gputwin.run.compare import Comparison


@click.command("compare")
@click.argument("scenario", required=False)
@click.option("--set", "sets", multiple=True, metavar="KEY=V1[,V2...]",
              help="Vary (several values) or fix (one value) a scenario field; repeatable. "
                   "Variants are the Cartesian product. Commas inside [...], {...} or "
                   "quotes do not split; \\, is a literal comma.")
@click.option("--seeds", type=int, default=5, show_default=True,
              help="Seeds per variant (base seed + i). Ignored when the seed changes "
                   "nothing (trace-only workloads run once).")
@click.option("--jobs", "-j", type=int, default=2, show_default=True,
              help="Worker processes (1 = run in this process).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--out", "out_dir", default=None,
              type=OutPath(file_okay=False),
              help="Write compare.json, compare-runs.csv and compare.html here.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no table.")
@click.option("--no-timing", is_flag=True, help=NO_TIMING_HELP)
def compare(scenario: str | None, sets: tuple[str, ...], seeds: int, jobs: int,
            as_json: bool, out_dir: Path | None, quiet: bool, no_timing: bool) -> None:
    """Run the variants of SCENARIO over several seeds and compare them side by side
    (mean ± 95 % CI; difference vs the first variant, * = significant).

    \b
    Example:
      gputwin compare examples/philly-fifo.yaml \\
          --set scheduler.profile=fifo,backfill-easy,backfill-conservative --seeds 5
    """
    from gputwin.errors import InputError
    from gputwin.run.compare import comparison_json, prepare_comparison, run_comparison

    if jobs < 1:
        raise InputError(f"expected >= 1 worker, got {jobs}", where="--jobs")
    plan = prepare_comparison(scenario, sets, seeds=seeds)
    show = not (quiet or as_json)
    result = _run_with_progress(plan, jobs) if show else run_comparison(plan, jobs=jobs)
    if no_timing:
        result = _without_timing(result)
    paths: dict[str, Path] = {}
    if out_dir is not None:
        paths = write_comparison(result, out_dir)
    if as_json:
        click.echo(comparison_json(result), nl=False)
    elif not quiet:
        print_comparison(result, paths)


def _without_timing(result: Comparison) -> Comparison:
    """Wall-clock values zeroed (times) or left out (summary fields): ``--no-timing``."""
    import dataclasses

    from gputwin.run.outputs import without_timing

    runs = [dataclasses.replace(r, wall_time_s=0.0, summary=without_timing(r.summary))
            for r in result.runs]
    return dataclasses.replace(result, runs=runs, wall_time_s=0.0)


def write_comparison(result: Comparison, out_dir: Path) -> dict[str, Path]:
    """Render everything in memory, then write the three files atomically."""
    from gputwin.report.compare import render_compare
    from gputwin.run.compare import COMPARE_HTML, COMPARE_JSON, RUNS_CSV, comparison_json, runs_csv
    from gputwin.run.outputs import write_files

    contents = {COMPARE_JSON: comparison_json(result), RUNS_CSV: runs_csv(result),
                COMPARE_HTML: render_compare(result)}
    return write_files(contents, out_dir, "compare")


def _run_with_progress(plan: object, jobs: int) -> Comparison:
    from gputwin.cli.progress import ProgressReporter
    from gputwin.run.compare import ComparisonPlan, run_comparison

    assert isinstance(plan, ComparisonPlan)
    total = len(plan.variants) * len(plan.seeds)
    with ProgressReporter("comparing", total, lambda done: f"{done:.0f}/{total} runs") as bar:

        def report(done: int, _total: int) -> None:
            bar(done)

        return run_comparison(plan, jobs=jobs, progress=report)


def print_comparison(result: Comparison, paths: dict[str, Path]) -> None:
    """The side-by-side rich table, the note and the files written."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from gputwin.report.compare import fmt_diff, fmt_estimate, verdict

    plan = result.plan
    console = Console()
    table = Table(title=f"gputwin compare: {plan.scenarios[0].name} "
                        f"(seeds {', '.join(str(s) for s in plan.seeds)})",
                  title_justify="left")
    table.add_column("metric", style="bold")
    for i, v in enumerate(result.variants):
        table.add_column(v.label + (" (baseline)" if i == 0 else ""), justify="right")
    for m in result.shown_metrics():
        row: list[Text | str] = [m.label]
        for vi in range(len(result.variants)):
            cell = result.cells[vi][m.key]
            text = Text(fmt_estimate(cell.estimate, m.unit))
            diff = fmt_diff(cell.diff, m.unit)
            if diff:
                style = {"better": "green", "worse": "red"}.get(verdict(cell.diff, m), "dim")
                text.append("\n" + diff, style=style)
            row.append(text)
        table.add_row(*row)
    console.print(table)
    console.print(f"note: {plan.note}")
    for line in result.to_dict().get("explanation", []):
        console.print(line)
    console.print("mean ± 95 % CI over seeds; 2nd line: difference vs the baseline (paired by "
                  "seed) ± 95 % CI, * = significant (CI excludes 0)")
    console.print(f"{len(result.runs)} runs in {result.wall_time_s:.1f} s wall")
    for path in paths.values():
        console.print(f"wrote {path}")
