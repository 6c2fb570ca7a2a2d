"""``--set key.path=value`` overrides applied to the raw scenario data before validation.

The value is parsed as YAML (``--set cluster.num_nodes=64``, ``--set seed=7``,
``--set 'cluster.network={nodes_per_leaf: 4}'``); path segments that are integers index
lists (``workload.synthetic.templates.0.weight=2`` or ``templates[0].weight=2``). Unknown
keys are reported by the schema (unknown field), with the override named as the place of
the error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gputwin.errors import InputError
from gputwin.yaml_io import KeyPath, parse_yaml_value


@dataclass(frozen=True, slots=True)
class Override:
    text: str  # as given, for error messages
    path: KeyPath
    value: Any


def parse_override(text: str) -> Override:
    """Parse ``key.path=value``; raises :class:`InputError` naming the ``--set`` option."""
    where = f"--set {text}"
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError("expected key.path=value", where=where)
    # accept list indices written either way: templates.0.model or templates[0].model
    parts = re.sub(r"\[(\d+)\]", r".\1", key).split(".")
    if any(not p for p in parts):
        raise InputError(f"empty segment in key path {key!r}", where=where)
    value = parse_yaml_value(raw, where) if raw.strip() else None
    path: KeyPath = tuple(int(p) if p.isdigit() else p for p in parts)
    return Override(text=text, path=path, value=value)


def override_at(key_path: KeyPath, overrides: list[Override],
                lines: dict[KeyPath, int] | None = None) -> Override | None:
    """The override that put the value at ``key_path`` there: the last whose path is a
    prefix of it, or, for a key the file does not have (``lines``; e.g. the unknown field
    ``foo`` of ``--set foo.bar=1``), the last that reaches under it. ``None``: the file."""
    for ov in reversed(overrides):
        if key_path[: len(ov.path)] == ov.path:
            return ov
    if lines is not None and key_path and key_path not in lines:
        for ov in reversed(overrides):
            if ov.path[: len(key_path)] == key_path:
                return ov
    return None


def key_paths(data: Any, base: KeyPath = ()) -> set[KeyPath]:
    """Every key path of ``data`` (mappings and lists, to any depth)."""
    out: set[KeyPath] = {base} if base else set()
    items = (data.items() if isinstance(data, dict)
             else enumerate(data) if isinstance(data, list) else ())
    for key, value in items:
        out |= key_paths(value, (*base, key))
    return out


def error_key_path(exc: ValidationError, data: Any = None) -> KeyPath:
    """The key path of the first error of ``exc`` (union-member tags left out).

    With the validated ``data``, a part is kept only where it names a key or index of the
    data at that depth (the last part may be a key the data lacks): a discriminated union's
    tag (``synthetic`` in ``serving.workload.0.synthetic.num_requests``) names none, and
    left in, it hid which ``--set`` gave the value."""
    loc = exc.errors()[0]["loc"]
    if data is None:
        return tuple(p for p in loc if isinstance(p, int) or "[" not in p)
    out: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int)
                       and 0 <= part < len(node)):
            out.append(part)
            node = node[part]
        elif index == len(loc) - 1 and isinstance(part, str) and "[" not in part:
            out.append(part)
    return tuple(out)


def apply_overrides(data: Any, overrides: list[Override]) -> Any:
    """Return ``data`` with each override applied in order (the input is not mutated)."""
    import copy

    out = copy.deepcopy(data) if data is not None else {}
    for ov in overrides:
        out = _set(out, ov)
    return out


def _set(root: Any, ov: Override) -> Any:
    where = f"--set {ov.text}"
    node = root
    for depth, part in enumerate(ov.path):
        last = depth == len(ov.path) - 1
        here = ".".join(str(p) for p in ov.path[: depth + 1])
        if isinstance(part, int):
            if not isinstance(node, list):
                raise InputError(f"{here}: not a list, cannot index it", where=where)
            if part >= len(node):
                raise InputError(f"{here}: index out of range (list has {len(node)} items)",
                                 where=where)
            if last:
                node[part] = ov.value
            else:
                node = node[part]
            continue
        if not isinstance(node, dict):
            raise InputError(f"{here}: parent is not a mapping", where=where)
        if last:
            node[part] = ov.value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
    return root
