"""``gputwin validate``: predicted vs published figures, with citations and errors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import click

from gputwin.validation.schema import CaseKind

if TYPE_CHECKING:
    from gputwin.validation.runner import CaseResult


_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _si(value: float, unit: str) -> str:
    """``3.7e11, "B/s"`` → ``370 GB/s``: 4 significant digits, an SI prefix, no exponent."""
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.4g} {prefix}{unit}".rstrip()
    return f"{value:.4g} {unit}".rstrip()


def _fmt(value: float, metric: str = "") -> str:
    """A value in the unit its metric name ends with (``_bytes_per_s``, ``_s``, ``_w``...)."""
    from gputwin.units import format_duration

    if "co2e" in metric and metric.endswith("_g"):
        return f"{value / 1e6:,.4g} t"
    for suffix, unit in (("_bytes_per_s", "B/s"), ("_tokens_per_s", "tok/s"),
                         ("_tokens_per_s_per_gpu", "tok/s"), ("_w", "W"), ("_j", "J"),
                         ("_g", "g"), ("_l_per_kwh", "L/kWh")):
        if metric.endswith(suffix):
            return _si(value, unit)
    if metric.endswith("_s") and not metric.endswith("per_s"):
        return format_duration(value)
    if metric.startswith("tflops") or metric.startswith("hw_tflops"):
        return f"{value:.4g} TFLOP/s"
    return _si(value, "")


@click.command()
@click.option("--kind", type=click.Choice(list(get_args(CaseKind))),
              default=None, help="Only cases of this kind.")
@click.option("--cases", "case_files", type=click.Path(path_type=Path), multiple=True,
              help="Case file(s) to run instead of the bundled suites.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="A Markdown table per kind (used for docs/validation.md).")
@click.option("--citations/--no-citations", default=False, help="Print each case's citation.")
def validate(kind: str | None, case_files: tuple[Path, ...], as_json: bool,
             as_markdown: bool, citations: bool) -> None:
    """Run the validation suite: each published figure, the model's prediction, the error.

    Exit code 1 when a case is outside its tolerance or fails to evaluate.
    """
    from gputwin.validation.runner import error_stats, load_cases, run_cases

    if as_json and as_markdown:
        raise click.UsageError("--json and --markdown are two output formats: give one")
    cases = load_cases(case_files or None)
    if kind:
        cases = [c for c in cases if c.kind == kind]
    results = run_cases(cases)
    failed = [r for r in results if not r.passed]
    if as_json:
        from gputwin.cli.options import emit_json

        emit_json({
            "cases": [
                {"id": r.case.id, "kind": r.case.kind, "title": r.case.title,
                 "metric": r.case.metric, "published": r.case.published,
                 "predicted": r.predicted, "rel_error": r.rel_error,
                 "tolerance_frac": r.case.tolerance_frac, "passed": r.passed,
                 "within_tolerance": r.within, "known_gap": r.case.known_gap or None,
                 "calibration": r.case.calibration, "citation": r.case.citation,
                 "url": r.case.url, "error": r.error}
                for r in results
            ],
            "num_failed": len(failed),
        })
    elif as_markdown:
        from gputwin.validation.markdown import results_markdown

        click.echo(results_markdown(results))
    else:
        _print_table(results, citations)
        for label, subset in (
            ("all", results),
            ("hold-out", [r for r in results if not r.case.calibration]),
            ("calibration", [r for r in results if r.case.calibration]),
        ):
            stats = error_stats(subset)
            if stats:
                _echo_wrapped(f"{label:>11}: {stats.count} cases, median |error| "
                              f"{stats.median_abs_error:.1%}, worst "
                              f"{stats.worst_abs_error:.1%} ({stats.worst_case})")
        gaps = [r for r in results if r.is_known_gap]
        _echo_wrapped(f"{sum(r.within for r in results)}/{len(results)} within tolerance"
                      + (f", {len(gaps)} known gap(s): {', '.join(r.case.id for r in gaps)}"
                         if gaps else ""))
    if failed:
        raise click.exceptions.Exit(1)


def _echo_wrapped(line: str) -> None:
    """One summary line, wrapped at the terminal's width (80 when not a terminal)."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    click.echo(textwrap.fill(line, width=max(60, width), subsequent_indent=" " * 13,
                             break_on_hyphens=False))


def _print_table(results: Sequence[CaseResult], citations: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped: $COLUMNS when set, else wide enough for the ids
        console = Console(width=int(os.environ.get("COLUMNS") or 120))
    narrow = console.width < 110  # the metric goes under the case id
    table = Table(title="gputwin validate: predicted vs published", show_lines=citations)
    cols = ("case", "published", "predicted", "error", "tol", "") if narrow else (
        "case", "metric", "published", "predicted", "error", "tol", "")
    for col in cols:
        table.add_column(col, justify="right" if col in ("published", "predicted", "error",
                                                         "tol") else "left",
                         overflow="fold", no_wrap=col in ("published", "predicted"))
    for r in results:
        case = r.case
        name = case.id + (" *" if case.calibration else "")
        if narrow:
            name += f"\n[dim]{case.metric}[/dim]"
        if citations:
            name += f"\n[dim]{case.citation}[/dim]"
        metric = [] if narrow else [case.metric]
        published = _fmt(case.published, case.metric)
        if r.predicted is None:
            table.add_row(name, *metric, published, "-", "-",
                          f"{case.tolerance_frac:.0%}", f"[red]ERROR {r.error}[/red]")
            continue
        err = r.rel_error or 0.0
        mark = ("[green]ok[/green]" if r.within else
                "[yellow]known gap[/yellow]" if r.is_known_gap else "[red]FAIL[/red]")
        table.add_row(name, *metric, published, _fmt(r.predicted, case.metric),
                      f"{err:+.1%}", f"{case.tolerance_frac:.0%}", mark)
    console.print(table)
    console.print("[dim]* = used to set a model coefficient (calibration); "
                  "others are hold-out[/dim]")
