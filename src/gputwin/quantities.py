"""Pydantic field types for human quantities (``"80GiB"``, ``"2h"``, ``"400Gbps"``).

Each type parses with :mod:`gputwin.units` and turns the parser's :class:`InputError`
into a ``ValueError``, the only error pydantic attaches a field location to — so the
loaders can report ``file:line: field: what was expected``. Values that are neither text
nor numbers (and booleans) pass through unchanged, so pydantic's own type error is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from gputwin.errors import InputError
from gputwin.units import (
    parse_bandwidth,
    parse_bytes,
    parse_count,
    parse_duration,
    parse_energy,
    parse_flops,
    parse_positive_count,
    parse_power,
)


def as_value_error(parse: Callable[[Any], float]) -> Callable[[Any], Any]:
    """Wrap a :mod:`gputwin.units` parser for use as a pydantic before-validator."""

    def validate(value: Any) -> Any:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return value
        try:
            return parse(value)
        except InputError as exc:
            raise ValueError(exc.detail) from None

    return validate


def _schema(example: str) -> WithJsonSchema:
    """JSON Schema of a quantity: a number in SI units, or text with a unit (``example``)."""
    return WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}],
                           "examples": [example]})


Bytes = Annotated[float, BeforeValidator(as_value_error(parse_bytes)), _schema("80GiB")]
BytesPerS = Annotated[float, BeforeValidator(as_value_error(parse_bandwidth)),
                      _schema("400Gbps")]
FlopPerS = Annotated[float, BeforeValidator(as_value_error(parse_flops)), _schema("989TFLOPS")]
Seconds = Annotated[float, BeforeValidator(as_value_error(parse_duration)), _schema("2h")]
Watts = Annotated[float, BeforeValidator(as_value_error(parse_power)), _schema("700W")]
Count = Annotated[float, BeforeValidator(as_value_error(parse_count)), _schema("2T")]
#: A count that must be > 0: ``expected a positive number`` for 0 and negatives alike.
PositiveCount = Annotated[float, BeforeValidator(as_value_error(parse_positive_count)),
                          _schema("2T")]
Joules = Annotated[float, BeforeValidator(as_value_error(parse_energy)), _schema("400MWh")]
#: A tenant's fair-share entitlement weight (dimensionless, > 0): DRF divides by it and
#: fair-share normalises by the sum, so 0 or a negative weight has no meaning.
ShareWeight = Annotated[float, Field(gt=0)]
