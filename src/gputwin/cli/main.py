"""The ``gputwin`` command line.

Subcommands are imported only when invoked, so ``gputwin --help`` stays fast. Any
:class:`gputwin.errors.InputError` becomes a one-line ``error:`` message on stderr and
exit code 2, without a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from gputwin import __version__
from gputwin.errors import InputError

#: subcommand → (module, attribute, one-line help shown by ``gputwin --help``)
_SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "simulate": ("gputwin.cli.simulate_cmd", "simulate", "Run a scenario over simulated time."),
    "estimate": ("gputwin.cli.estimate_cmd", "estimate",
                 "Analytical estimates: training, collectives, serving, energy, TCO, "
                 "optics, video, dataflow parts, RAG."),
    "catalog": ("gputwin.cli.catalog_cmd", "catalog",
                "List and show accelerators, systems, fabrics, storage and models."),
    "validate": ("gputwin.cli.validate_cmd", "validate",
                 "Compare the models with published measurements."),
    "calibrate": ("gputwin.cli.calibrate_cmd", "calibrate",
                  "Fit serving-model coefficients to measured step or request times."),
    "workload": ("gputwin.cli.workload_cmd", "workload",
                 "Cluster and LLM request traces: stats; fit generators to cluster ones."),
    "plan": ("gputwin.cli.plan_cmd", "plan",
             "Search configurations: training layouts; serving deployments within SLOs."),
    "economics": ("gputwin.cli.economics_cmd", "economics",
                  "API prices, owned-GPU TCO, site power supply (PPAs, on-site, batteries)."),
    "compare": ("gputwin.cli.compare_cmd", "compare",
                "Run scenario variants over several seeds and compare them (95 % CI)."),
    "scenario": ("gputwin.cli.scenario_cmd", "scenario",
                 "List the bundled scenarios; print the scenario JSON Schema."),
    "server": ("gputwin.server.cli", "server", "Serve the twin as a multi-tenant REST API."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands live in modules imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attr, _ = self._lazy[cmd_name]
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self._lazy[name][2]) for name in sorted(self._lazy)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy=_SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="gputwin")
def cli() -> None:
    """gputwin: a digital twin of the cloud that powers generative AI.

    \b
    Quick start:
      gputwin simulate                      run the bundled default scenario
      gputwin estimate train --model gpt3-175b --gpu a100-sxm-80gb --num-gpus 64 --tp 8 --pp 8 \\
          --global-batch-size 64
      gputwin estimate collective --op all_reduce --size 1GiB --num-gpus 16 --gpu h100-sxm-80gb
      gputwin estimate serve --model llama2-70b --gpu h100-sxm-80gb --tp 8 --input-tokens 2048 \\
          --output-tokens 128 --batch-size 64
      gputwin simulate serve --model llama3-8b --gpu h100-sxm-80gb --replicas 2 --rate 20
      gputwin plan train --model llama3.1-405b --gpu h100-sxm-80gb --num-gpus 16384 \\
          --global-batch-size 2048
      gputwin compare default --set scheduler.profile=fifo,backfill-easy --seeds 3
      gputwin catalog list
      gputwin validate

    \b
    Every command accepts --catalog FILE (repeatable): a YAML file in the bundled
    catalog's format whose GPUs, systems, fabrics, storage tiers and models are merged
    over the bundled catalog (same name: yours wins). See docs/catalog.md.
    """


def take_catalog_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split ``--catalog FILE`` / ``--catalog=FILE`` (accepted before or after any
    subcommand, repeatable) from the other arguments; returns ``(files, rest)``."""
    files: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
            break
        if arg == "--catalog":
            value = next(args, None)
            if value is None:
                raise InputError("expected a catalog YAML file after it", where="--catalog")
            files.append(value)
        elif arg.startswith("--catalog="):
            files.append(arg.removeprefix("--catalog="))
        else:
            rest.append(arg)
    return files, rest


def _apply_catalogs(argv: list[str] | None) -> list[str]:
    files, rest = take_catalog_options(list(sys.argv[1:] if argv is None else argv))
    if files:
        from pathlib import Path

        from gputwin.catalog.loader import use_user_catalogs

        use_user_catalogs(Path(f) for f in files)
    return rest


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps :class:`InputError` to exit code 2."""
    try:
        argv = _apply_catalogs(argv)
        cli.main(args=argv, prog_name="gputwin", standalone_mode=False)
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        # a group named without its subcommand: its help, not an "error: Usage: ..." line
        click.echo(exc.ctx.get_help(), err=True)
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        # one line, like InputError: what is wrong, and where to read more
        where = f"{exc.ctx.command_path} --help" if exc.ctx is not None else "gputwin --help"
        click.echo(f"error: {exc.format_message()} (see `{where}`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
