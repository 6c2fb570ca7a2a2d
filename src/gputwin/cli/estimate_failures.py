"""``estimate train --failures``: the options and the goodput section (JSON and text)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gputwin.cli.options import DURATION, Finite

if TYPE_CHECKING:
    from gputwin.perf.training import TrainingEstimate
    from gputwin.requests import TrainRequest
    from gputwin.run.estimate_goodput import FailureOptions

F = TypeVar("F", bound=Callable[..., Any])
_KEYS = ("failures", "duration_s", "async_checkpoint", "fault_rate_scale",
         "checkpoint_bytes_per_param")


def failure_options(func: F) -> F:
    """Add ``--failures``, ``--duration``, ``--async-checkpoint``, ``--fault-rate-scale``,
    ``--checkpoint-bytes-per-param``."""
    func = click.option("--checkpoint-bytes-per-param", type=Finite(min=0, min_open=True),
                        default=14.0, show_default=True, help="With --failures: bytes a "
                        "checkpoint holds per parameter (14: bf16 weights, fp32 master "
                        "weights and Adam moments; 10 without master weights).")(func)
    func = click.option("--fault-rate-scale", type=Finite(min=0), default=1.0,
                        show_default=True, help="With --failures: multiply every fault "
                        "rate (docs/reliability.md).")(func)
    func = click.option("--async-checkpoint", is_flag=True,
                        help="With --failures: checkpoints written in the background.")(func)
    func = click.option("--duration", "duration_s", type=DURATION, default=None,
                        help="With --failures: wall-clock window (e.g. 54d) [default: the "
                        "time to train with failures, from --tokens].")(func)
    return click.option("--failures", is_flag=True,
                        help="Add expected interruptions, lost time and the effective "
                        "training time ratio (ETTR) under published fault rates.")(func)


def pop_failure_options(ctx: click.Context, options: dict[str, Any]) -> FailureOptions | None:
    """Take the failure flags out of ``options``; ``None`` without ``--failures``."""
    from gputwin.run.estimate_goodput import FailureOptions

    values = {k: options.pop(k) for k in _KEYS}
    if not values["failures"]:
        given = [flag for flag, on in (
            ("--duration", values["duration_s"] is not None),
            ("--async-checkpoint", values["async_checkpoint"]),
            ("--fault-rate-scale", ctx.get_parameter_source("fault_rate_scale")
             is not click.core.ParameterSource.DEFAULT),
            ("--checkpoint-bytes-per-param",
             ctx.get_parameter_source("checkpoint_bytes_per_param")
             is not click.core.ParameterSource.DEFAULT)) if on]
        if given:
            raise click.UsageError(f"{', '.join(given)} without --failures: "
                                   "they only apply to its goodput section")
        return None
    source = ctx.get_parameter_source("checkpoint_interval_s")
    return FailureOptions(duration_s=values["duration_s"],
                          async_checkpoint=values["async_checkpoint"],
                          rate_scale=values["fault_rate_scale"],
                          checkpoint_bytes_per_param=values["checkpoint_bytes_per_param"],
                          interval_given=source is not click.core.ParameterSource.DEFAULT)


def failures_section(request: TrainRequest, est: TrainingEstimate,
                     options: FailureOptions) -> dict[str, Any]:
    from gputwin.run.estimate_goodput import estimate_failures

    return estimate_failures(request, est, options)


def with_failures(payload: dict[str, Any], goodput: dict[str, Any]) -> dict[str, Any]:
    """The estimate's JSON plus ``failures`` and the headline ``interruptions``/``ettr``."""
    return {**payload, "interruptions": goodput["interruptions"], "ettr": goodput["ettr"],
            "failures": goodput}


def _rates_line(rates: dict[str, Any]) -> str:
    """Where the rates come from, and the scale applied to them."""
    scale = rates["rate_scale"]
    scaled = "" if scale == 1 else f" x {scale:g} (--fault-rate-scale)"
    return f"{rates['catalog']}{scaled}; per model: --json failures.fault_rates"


def print_failures(g: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from gputwin.units import format_duration

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    if g["duration_s"] is None or not math.isfinite(g["duration_s"]):  # ETTR 0: inf window
        grid.add_row("window", "never ends: faults come faster than the job can recover, so "
                               "it makes no progress (ETTR 0)")
        g = {**g, "interruptions": math.nan, "interruptions_planned": math.nan,
             "lost_time_s": None, "by_cause": {}}
    else:
        grid.add_row("window", format_duration(g["duration_s"]))
    grid.add_row("interruptions", f"{g['interruptions']:.0f} unexpected, "
                                  f"{g['interruptions_planned']:.0f} planned"
                  if math.isfinite(g["interruptions"]) else "unbounded")
    if g["mtbf_s"] is not None:
        grid.add_row("mean time between failures", format_duration(g["mtbf_s"]))
    grid.add_row("checkpoint", f"every {format_duration(g['checkpoint_interval_s'])} "
                               f"(Young/Daly {format_duration(g['young_daly_interval_s'])}), "
                               f"write {format_duration(g['checkpoint_write_s'])} "
                               f"({g['checkpoint_bytes'] / 1e12:.2f} TB) "
                               f"to {g['checkpoint_storage']}")
    if g["simulated_optimum_interval_s"] is not None:
        grid.add_row("simulated optimum", format_duration(g["simulated_optimum_interval_s"]))
    grid.add_row("restart", f"detect {format_duration(g['detect_s'])} + "
                            f"{format_duration(g['restart_s'])}")
    if g["lost_time_s"] is not None:
        grid.add_row("lost time", format_duration(g["lost_time_s"]))
    grid.add_row("ETTR", f"{g['ettr']:.1%}")
    if g["time_to_train_with_failures_s"] is not None:
        grid.add_row("time to train with failures",
                     format_duration(g["time_to_train_with_failures_s"]))
    if g["by_cause"]:
        grid.add_row("by cause", ", ".join(f"{k} {v:.0f}" for k, v in g["by_cause"].items()))
    grid.add_row("fault rates", _rates_line(g["fault_rates"]))
    console = Console()
    console.print("[bold]failures and goodput[/bold]")
    console.print(grid)
