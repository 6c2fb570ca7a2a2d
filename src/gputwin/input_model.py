"""The base of every model of user input: scenario sections, request objects, plugin and
router arguments, REST bodies.

One rule set for all of them, so a value is refused the same way wherever it is typed:
the models are frozen, unknown keys are errors, numbers must be finite (``inf``/``nan``
or YAML's ``.inf`` would otherwise reach the simulation as an infinite time or size), and
``true``/``false`` is refused where a number belongs (pydantic's lax mode would read
``num_nodes: true`` as 1).
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator


class InputModel(BaseModel):
    """Frozen, no unknown keys, finite numbers, no booleans for numbers (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, data: Any) -> Any:
        """``true``/``false`` given for a number becomes the text ``"true"``/``"false"``,
        which the field's own validation then refuses at its key (e.g. "Input should be a
        valid integer ... input_value='true'")."""
        if isinstance(data, dict):
            fields = cls.model_fields
            bad = [k for k, v in data.items() if isinstance(v, bool) and k in fields
                   and _number_not_bool(fields[k].annotation)]
            if bad:
                return {**data, **{k: str(data[k]).lower() for k in bad}}
        return data


_SEEN: dict[object, bool] = {}


def _number_not_bool(annotation: object) -> bool:
    """Whether ``annotation`` takes an int or float but not a bool (``Any`` takes one);
    remembered per annotation (only booleans ask, and only while a model is validated)."""
    try:
        return _SEEN[annotation]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation: work it out each time
        return _decide(annotation)
    out = _SEEN[annotation] = _decide(annotation)
    return out


def _decide(annotation: object) -> bool:
    kinds = _leaf_types(annotation)
    return bool(kinds & {int, float}) and not kinds & {bool, Any}


def _leaf_types(annotation: object) -> frozenset[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _leaf_types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return frozenset().union(*(_leaf_types(a) for a in get_args(annotation)))
    if origin is Literal:
        return frozenset(type(a) for a in get_args(annotation))
    if origin is not None:  # list[int], dict[...]: a bool is refused by its own type
        return frozenset()
    if isinstance(annotation, type) and issubclass(annotation, bool):
        return frozenset({bool})
    if isinstance(annotation, type) and issubclass(annotation, (int, float)):
        return frozenset({int if issubclass(annotation, int) else float})
    return frozenset({Any}) if annotation is Any else frozenset()
