"""YAML reading that remembers where each value came from.

``load_yaml_with_lines`` returns the plain data plus a map from a key path such as
``("jobs", 0, "num_gpus")`` to its 1-based line, so validation errors can name the
line as well as the field. ``validation_error_to_input_error`` turns a pydantic
``ValidationError`` into a one-line :class:`InputError`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gputwin.errors import InputError
from gputwin.limits import MAX_YAML_ALIAS_VALUES
from gputwin.textio import read_text

KeyPath = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

#: libyaml's C loader when PyYAML was built with it (several times faster), else Python's;
#: a subclass, so the timestamp rule below stays ours.
_Loader: Any = type("_Loader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})


def _timestamp_as_text(loader: Any, node: yaml.ScalarNode) -> str:
    """A value YAML reads as a timestamp (``2023-06-01``) stays its text: the schemas parse
    dates themselves (``site.start``), so an unquoted date is not refused as "not a valid
    string (got datetime.date(...))", and ``2024-13-01`` is an error naming its field, not a
    ``ValueError`` traceback from PyYAML's date constructor."""
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


class _Walk:
    """State of one walk over a YAML node graph: the line of every key path, and a count
    of the values reached through aliases (each use of an alias walks what it names
    again, so nested aliases can name billions of values: "billion laughs")."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: dict[KeyPath, int] = {}
        self.seen: set[int] = set()  # nodes walked at least once
        self.open: set[int] = set()  # nodes on the current path (a cycle if met again)
        self.repeated = 0  # node visits through an alias

    def enter(self, node: yaml.Node, line: int) -> None:
        key = id(node)
        if key in self.open:
            raise InputError("YAML alias refers to a value that contains it (a recursive "
                             "structure)", where=f"{self.where}:{line}")
        if key in self.seen:
            self.repeated += 1
            if self.repeated > MAX_YAML_ALIAS_VALUES.value:
                limit = MAX_YAML_ALIAS_VALUES
                raise InputError(f"too many YAML aliases: they expand to more than "
                                 f"{limit.value:,} {limit.unit} ({limit.why})",
                                 where=f"{self.where}:{line}")
        self.seen.add(key)
        self.open.add(key)


def _walk(node: yaml.Node, path: KeyPath, walk: _Walk, use_line: int) -> None:
    """Record the line of every key path; a key given twice in one mapping is an error
    (YAML forbids it, but PyYAML silently keeps the last value). ``use_line`` is the line
    that names this value (for an alias, the line that uses it, not the anchor's)."""
    walk.enter(node, use_line)
    lines = walk.lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                field = format_key_path((*path, key))
                raise InputError(f"{field}: duplicate key (first given on line {seen[key]})",
                                 where=f"{walk.where}:{line}")
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), walk, line)
            lines[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            item_line = use_line if id(item) in walk.seen else item.start_mark.line + 1
            _walk(item, (*path, index), walk, item_line)
    walk.open.discard(id(node))


def parse_yaml_with_lines(text: str, where: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML text; raise :class:`InputError` naming ``where`` and the line on errors.

    The node graph is walked before any Python value is built, so aliases that expand
    beyond :data:`gputwin.limits.MAX_YAML_ALIAS_VALUES` (or that contain themselves) are
    refused before they cost time or memory, here or in the validation that follows."""
    loader = _Loader(text)  # a *safe* loader (C or Python); the text is parsed once
    walk = _Walk(where)
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), walk, node.start_mark.line + 1)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"invalid YAML: {exc.problem}", where=f"{where}{line}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", where=where) from None
    finally:
        loader.dispose()
    return data, walk.lines


def parse_yaml_value(text: str, where: str) -> Any:
    """Parse a short YAML text (an option's value) under the same rules as a file;
    errors name ``where`` without a line."""
    try:
        return parse_yaml_with_lines(text, where)[0]
    except InputError as exc:
        raise InputError(exc.detail, where=where) from None


#: The installed package: its data files (catalog, engine profiles, energy tables) are
#: parsed once per state of the file across processes (:mod:`gputwin.parse_cache`).
_PACKAGE_DIR = Path(__file__).resolve().parent


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Read and parse a YAML file (see :func:`parse_yaml_with_lines`); a missing or
    non-UTF-8 file is an :class:`InputError` (:func:`gputwin.textio.read_text`).

    A file shipped inside the package is parsed once per state of the file (name, size,
    modification time) and the parse kept in the cache that the catalog uses; user files
    (scenarios, manifests, calibrations) are always read afresh."""
    if path.suffix in (".yaml", ".yml") and path.resolve().is_relative_to(_PACKAGE_DIR):
        from gputwin.parse_cache import cached

        return cached(f"yaml-{path.stem}", [path], lambda: _parse_file(path))
    return _parse_file(path)


def _parse_file(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    return parse_yaml_with_lines(read_text(path), str(path))


def top_level_mapping(data: Any, where: str,
                      what: str = "a mapping (key: value)") -> dict[Any, Any]:
    """``data`` parsed from the file ``where`` if it is a mapping; an empty file (nothing
    but blanks or comments parses as ``None``) or another top level is an
    :class:`InputError` saying which."""
    if data is None:
        raise InputError(f"the file is empty (or holds only comments): expected {what}",
                         where=where)
    if not isinstance(data, dict):
        raise InputError(f"expected {what} at the top level", where=f"{where}:1")
    return data


def format_key_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _real_path(loc: KeyPath, lines: dict[KeyPath, int] | None, last_may_be_new: bool) -> KeyPath:
    """Drop pydantic's union/validator tags from ``loc``, keeping keys present in the YAML.

    Without line information, parts that look like tags (``list[int]``, ``constrained-int``)
    are dropped. A missing field's name is kept as the last part.
    """
    if lines is None:
        return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or "-" in p)))
    out: KeyPath = ()
    for index, part in enumerate(loc):
        candidate = (*out, part)
        is_last = index == len(loc) - 1
        if candidate in lines or (is_last and last_may_be_new and isinstance(part, str)):
            out = candidate
    return out


def _most_useful(errors: list[Any]) -> Any:
    """Pick the error that best explains the failure.

    An unknown field first (a misspelt key also makes the real key "missing"); otherwise
    the deepest location: for a union such as ``int | list[int]`` that is the member the
    user meant (``num_gpus[0]: greater than 0``), not "should be a valid integer".
    """
    for err in errors:
        if err["type"] == "extra_forbidden":
            return err
    return max(errors, key=lambda e: len(e["loc"]))


def _worth_showing(err: Any, loc: KeyPath, raw_loc: KeyPath) -> bool:
    """Whether the value an error refused is worth quoting after its message: a single
    value or a short list is; a mapping is not (a rule across fields of a section or
    entry refused it, and its message names the fields), nor a long list, nor the ``None``
    default of a field the file does not give."""
    value = err["input"]
    if isinstance(value, dict):
        return False
    if isinstance(value, list | tuple | set) and len(repr(value)) > 60:
        return False
    # a rule on a field the file leaves out sees its default; its location is then
    # deeper than any key of the file
    return not (value is None and err["type"] == "value_error" and len(loc) < len(raw_loc))


def validation_error_to_input_error(
    exc: ValidationError,
    where: str,
    lines: dict[KeyPath, int] | None = None,
    prefix: KeyPath = (),
    flag_of: Callable[[KeyPath], str | None] | None = None,
    keys: Collection[KeyPath] | None = None,
) -> InputError:
    """The most useful error of ``exc`` as one line: ``file:line: field: message (got ...)``.

    ``flag_of`` names the command-line option a field came from (``--input-tokens``), when
    the data was built from options: the error then names that option instead. ``keys``:
    the key paths of the data, which tell pydantic's union tags from keys where ``lines``
    cannot (a value a ``--set`` gave)."""
    errors = exc.errors()
    err = _most_useful(errors)
    raw_loc: KeyPath = (*prefix, *(p for p in err["loc"] if isinstance(p, str | int)))
    known = lines if lines is not None or keys is None else dict.fromkeys(keys, 0)
    loc = _real_path(raw_loc, known, last_may_be_new=err["type"] in ("missing",
                                                                      "extra_forbidden"))
    line = None
    if lines:
        probe = loc
        while probe and probe not in lines:
            probe = probe[:-1]
        line = lines.get(probe)
    place = f"{where}:{line}" if line else where
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    flag = flag_of(loc) if flag_of is not None else None
    got = ""
    # a None built from options is an option not given, not a value the user typed
    if (err["type"] not in ("missing", "extra_forbidden") and "input" in err
            and "got " not in msg and _worth_showing(err, loc, raw_loc)
            and not (flag and err["input"] is None)):
        shown = repr(err["input"])
        got = f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    field = format_key_path(loc) or "(top level)"
    more = len(errors) - 1
    tail = f" [and {more} more problem{'s' if more > 1 else ''}]" if more else ""
    if flag:
        return InputError(f"{msg}{got}{tail}", where=flag)
    return InputError(f"{field}: {msg}{got}{tail}", where=place)


def load_validated(path: Path, schema: type[M]) -> M:
    """Read ``path`` and validate it as ``schema``; errors name the file, line and field."""
    raw, lines = load_yaml_with_lines(path)
    data = top_level_mapping(raw, str(path))
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path), lines) from None
