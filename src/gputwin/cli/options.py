"""Click parameter types for human quantities (parsed with :mod:`gputwin.units`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast, get_args

import click

from gputwin.errors import InputError, bounds_text, in_bounds
from gputwin.units import parse_bandwidth, parse_bytes, parse_duration, parse_positive_count

F = TypeVar("F", bound=Callable[..., Any])


class _Quantity(click.ParamType[float]):
    def __init__(self, name: str, parse: Callable[[Any], float]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return self._parse(value)
        except InputError as exc:
            self.fail(exc.detail, param, ctx)


BYTES = _Quantity("size", parse_bytes)
BANDWIDTH = _Quantity("bandwidth", parse_bandwidth)
#: A count > 0 (tokens, GPU-hours): every count flag feeds a field that must be positive.
COUNT = _Quantity("number", parse_positive_count)
DURATION = _Quantity("duration", parse_duration)


class Finite(click.FloatRange):
    """A plain-number option that must be finite: click's ``float`` and ``FloatRange`` read
    ``nan`` and ``inf`` as numbers (NaN passes every range check), which reach the models as
    a never-ending loop or a ``nan`` result. Bounds as in ``FloatRange`` (``min``/``max``,
    ``min_open``/``max_open``) and shown in ``--help``; every refusal reads ``Invalid value
    for '--flag': expected a finite number >= 0, got 'nan'`` (exit 2)."""

    name = "float"

    def __init__(self, min: float | None = None, max: float | None = None,
                 min_open: bool = False, max_open: bool = False) -> None:
        super().__init__(min, max, min_open, max_open)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        number = click.FLOAT.convert(value, param, ctx)  # "'abc' is not a valid float."
        if not in_bounds(number, self.min, self.max, low_open=self.min_open,
                         high_open=self.max_open):
            self.fail(f"expected a finite number{self.bounds()}, got {value!r}", param, ctx)
        return number

    def bounds(self) -> str:
        """`` >= 0``, `` in (0, 1]`` or nothing: the bounds in words."""
        return bounds_text(self.min, self.max, low_open=self.min_open, high_open=self.max_open)

    def _describe_range(self) -> str:
        """The bracket ``--help`` shows (``x>=0``), none without bounds."""
        return "" if self.min is None and self.max is None else super()._describe_range()


#: Any finite number (the option's model checks its range).
FINITE = Finite()

OUT_HELP = ("Output folder: new, empty or an earlier run's (replaced as a whole; a "
            "symlink writes into its target) "
            "[default: a new gputwin-out/<command>-<date>-<time>/].")
OUTPUTS_HELP = ("Files to write, a comma list of summary, csv, parquet, report (or all, "
                "none) [default: every one for cluster runs; summary,parquet,report for "
                "serving runs; only summary with --json].")
NO_TIMING_HELP = ("Leave wall-clock fields out of the summary and report, so runs with "
                  "the same seed give byte-identical files.")


class OutPath(click.Path):
    """``--out``: a path (as :class:`pathlib.Path`) that is not the empty string (which
    :class:`click.Path` would read as the current folder)."""

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = True) -> None:
        from pathlib import Path

        super().__init__(file_okay=file_okay, dir_okay=dir_okay, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("expected a path, got an empty string", param, ctx)
        return super().convert(value, param, ctx)


def positive_int(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Callback rejecting zero and negative integers with a clear message."""
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


def comma_list(ctx: click.Context, param: click.Parameter,
               value: str | None) -> list[str] | None:
    """``a,b`` -> ``["a", "b"]`` (the request checks each name)."""
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def option_of(command: click.Command) -> Callable[[str], str]:
    """Where a request field set by ``command`` was typed, for :func:`gputwin.requests.
    validated`'s ``where``: the option that fills the field (``checkpoint_interval_s`` →
    ``--checkpoint-interval``, ``compute_frac`` → ``--busy-frac``), for a nested path
    (``layout.tp``, ``index.m``) the option of its innermost part that has one, else the
    path itself. Read from the command's own options, so a renamed flag is never missed."""
    by_name: dict[str, str] = {}
    known: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            by_name[param.name] = param.opts[0]
            known.update(param.opts)

    def where(field: str) -> str:
        for part in reversed(field.split(".")):
            dashed = "--" + part.replace("_", "-")
            if part in by_name or dashed in known:
                return by_name.get(part, dashed)
        return field
    return where


def emit_json(payload: Any) -> None:
    """Print ``payload`` as strict JSON: every NaN or infinite float (an infinite time when
    faults stop all progress, a ratio of nothing) becomes ``null``
    (:func:`gputwin.run.outputs.json_safe`), never ``NaN``/``Infinity``, which JSON lacks."""
    import json

    from gputwin.run.outputs import json_safe

    click.echo(json.dumps(json_safe(payload), indent=2, sort_keys=False, allow_nan=False))


#: Help of ``simulate serve`` options that the command itself leaves without one.
SERVE_HELP: dict[str, str] = {
    "tp": "Tensor-parallel GPUs per replica.",
    "pp": "Pipeline-parallel stages per replica.",
    "kv_cache_dtype": "KV-cache format (fp8 halves its memory).",
    "replicas": "Replicas of the service (each tp x pp GPUs; not with --disaggregate).",
    "trace_format": "Format of --trace.",
    "num_requests": "Synthetic requests to send (with --rate or --concurrency; not with "
                    "--trace).",
    "arrival": "Synthetic arrival process.",
    "acceptance": "Speculative decoding: probability a draft token is accepted.",
    "router": "How requests are spread over replicas.",
    "max_num_seqs": "Engine: most sequences in one batch (vLLM max_num_seqs).",
    "max_num_batched_tokens": "Engine: most tokens in one step (vLLM max_num_batched_tokens).",
    "block_size": "Engine: tokens per KV-cache block.",
    "gpu_memory_utilization": "Engine: fraction of GPU memory for weights, activations and KV.",
    "no_prefix_caching": "Turn automatic prefix caching off.",
    "no_chunked_prefill": "Turn chunked prefill off (whole prompts in one step).",
    "preemption": "What happens to a preempted sequence's KV cache.",
    "seed": "Random seed (same seed, same results).",
    "quiet": "No progress and no summary table.",
}


def wide_console(min_width: int) -> Any:
    """A rich ``Console`` at least ``min_width`` columns wide, for tables whose cells must
    never be cut short: a narrower terminal wraps the lines instead (nothing is lost)."""
    from rich.console import Console

    return Console(width=max(Console().width, min_width))


def gpus_on(count: int, gpu: str | None, system: str | None) -> str:
    """``"8 x h100-sxm-80gb"``, or with a system ``"8 x h100-sxm-80gb (dgx-h100)"`` (the
    count is of GPUs, never of systems). Call after the request was validated: an
    unknown system name reads as given."""
    if gpu or not system:
        return f"{count} x {gpu}"
    from gputwin.catalog.loader import default_catalog
    from gputwin.errors import UnknownNameError

    try:
        accelerator = default_catalog().system(system).accelerator
    except UnknownNameError:
        return f"{count} x {system}"
    return f"{count} x {accelerator} ({system})"


def fill_help(command: click.Command, helps: dict[str, str]) -> click.Command:
    """Give each option of ``command`` without help text the one in ``helps``."""
    for param in command.params:
        if isinstance(param, click.Option) and not param.help and param.name in helps:
            param.help = helps[param.name]
    return command


def wide_ep_options(command: F) -> F:
    """The wide expert-parallelism options shared by ``estimate serve`` and
    ``simulate serve`` (docs/serving-model.md, "Wide expert parallelism")."""
    for option in reversed((
        click.option("--dp-attention", type=int, default=1, show_default=True,
                     callback=positive_int,
                     help="Attention data-parallel groups per replica (MoE; wide EP: "
                          "--ep = --tp x --dp-attention)."),
        click.option("--redundant-experts", type=click.IntRange(0), default=0,
                     show_default=True, help="EPLB redundant expert slots (wide EP)."),
        click.option("--ep-imbalance", type=FINITE, default=None,
                     help="Busiest GPU's routed tokens over the mean [default: expected]."),
    )):
        command = option(command)
    return command


def moe_dispatch_options(command: F) -> F:
    """How a MoE training layout dispatches its tokens, shared by ``estimate train`` and
    ``plan train`` (docs/training-model.md, "MoE dispatch, the A2A overlap and DualPipe")."""
    from gputwin.requests import EpDispatcher

    for option in reversed((
        click.option("--ep-dispatcher", type=click.Choice(get_args(EpDispatcher)),
                     default="alltoall", show_default=True,
                     help="MoE token dispatch: every top-k copy over the EP group, or one "
                          "copy per remote node forwarded over NVLink (DeepEP, HybridEP)."),
        click.option("--ep-dispatch-fp8", is_flag=True,
                     help="Dispatch MoE tokens in FP8 (DeepSeek-V3's stack; Megatron's "
                          "DeepEP and HybridEP dispatch BF16)."),
        click.option("--moe-a2a-overlap", is_flag=True,
                     help="Hide the EP all-to-all behind another micro-batch's compute "
                          "(Megatron overlap_moe_expert_parallel_comm: 2+ micro-batches, "
                          "--interleave > 1 with --pp > 1, no full recomputation)."),
    )):
        command = option(command)
    return command


def closed_loop_options(note: str = "") -> Callable[[F], F]:
    """``--concurrency`` and ``--think-time``, the closed-loop load of ``simulate serve``
    and ``plan serve`` (docs/serving-simulation.md, "Closed-loop clients"); ``note`` ends
    ``--concurrency``'s help (what else the command needs with it)."""
    options = (
        click.option("--concurrency", type=int, default=None, callback=positive_int,
                     help="Closed loop instead of --rate: N clients (users), each sending "
                          "its next request when its previous one completes (a "
                          "benchmark's max concurrency)." + (f" {note}" if note else "")),
        click.option("--think-time", type=DURATION, default=None,
                     help="With --concurrency: a client's pause between a response and "
                          "its next request (e.g. 5s) [default: 0]."),
    )

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


PROVIDERS = ("hyperscaler", "neocloud", "marketplace", "owned")
PRICINGS = ("on-demand", "reserved", "spot")


def rental_price_options(command: F) -> F:
    """``--provider`` and ``--pricing`` of the estimates that price one part: by default
    the first listing the price book has for it (neocloud on-demand, else the class that
    rents the part, e.g. hyperscaler for TPUs; energy/accounting.allocation_rates)."""
    inner = command

    @functools.wraps(inner)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from gputwin.energy.accounting import owned_pricing_problem

        problem = owned_pricing_problem(kwargs.get("provider"), kwargs.get("pricing"))
        if problem is not None:
            raise InputError(problem, where="--pricing")
        return inner(*args, **kwargs)

    command = cast(F, checked)
    for option in reversed((
        click.option("--provider", type=click.Choice(PROVIDERS), default=None,
                     help="Who provides the GPUs ('owned' = full cost of ownership) "
                          "[default: neocloud, else the class that rents the part, e.g. "
                          "hyperscaler for TPUs]."),
        click.option("--pricing", type=click.Choice(PRICINGS), default=None,
                     help="[default: on-demand where the part is listed so]"),
    )):
        command = option(command)
    return command

