"""Click parameter types for human quantities (parsed with :mod:`gputwin.units`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from gputwin.errors import InputError
from gputwin.units import parse_bandwidth, parse_bytes, parse_count, parse_duration


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
COUNT = _Quantity("number", parse_count)
DURATION = _Quantity("duration", parse_duration)

OUT_HELP = ("Output folder: new, empty or an earlier run's (replaced as a whole) "
            "[default: a new gputwin-out/<command>-<date>-<time>/].")
NO_TIMING_HELP = ("Leave wall-clock fields out of the summary and report, so runs with "
                  "the same seed give byte-identical files.")


def positive_int(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Callback rejecting zero and negative integers with a clear message."""
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


def emit_json(payload: Any) -> None:
    import json

    click.echo(json.dumps(payload, indent=2, sort_keys=False))
