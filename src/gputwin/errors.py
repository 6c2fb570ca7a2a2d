"""Error types shared by every layer.

A :class:`InputError` is a problem with what the user gave us (a file, a field, a CLI
option). The CLI turns it into a one-line message and exit code 2, with no traceback.
Anything else that escapes is a bug in gputwin.
"""

from __future__ import annotations

import math
import re


class GputwinError(Exception):
    """Base class of all errors gputwin raises on purpose."""


class InputError(GputwinError):
    """Bad user input: names *where* (file, field, line) and *what* was expected."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)


class UnknownNameError(InputError):
    """A catalog (or registry) name that does not exist; suggests close matches."""

    def __init__(self, kind: str, name: str, known: list[str], *, where: str | None = None):
        import difflib

        # Names that contain what was typed ("h100" → "h100-sxm-80gb") come first, shortest
        # first; then spelling neighbours ("dgx-h10" → "dgx-h100").
        low = name.lower()
        containing = sorted((k for k in known if low and (low in k.lower() or k.lower() in low)),
                            key=lambda k: (not k.lower().startswith(low), len(k), k))
        similar = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        close = list(dict.fromkeys([*_same_name(name, known), *containing, *similar]))[:3]
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = "" if close else f"; known: {', '.join(sorted(known))}"
        super().__init__(f"unknown {kind} {name!r}{hint}{listing}", where=where)
        self.kind = kind
        self.name = name
        self.suggestions = close


#: parts of a published checkpoint's name that do not name the architecture: a release
#: tag ("-Instruct", "-hf", "-v0.1", "-0528"), a quantised copy ("-FP8", "-FP4") or Llama 4's
#: "-17B-16E" (active size and experts)
_CHECKPOINT_TAGS = re.compile(
    r"-(instruct|chat|hf|it|base|fp8|fp4|nvfp4|mxfp4|bf16|awq|gptq|v\d+(\.\d+)*|\d{4}"
    r"|\d+b-\d+e)(?=-|$)")


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _same_name(name: str, known: list[str]) -> list[str]:
    """Known names that ``name`` spells another way: a Hugging Face repository id
    ("meta-llama/Llama-3.1-8B-Instruct" → "llama3.1-8b"), other case or punctuation."""
    bare = name.rsplit("/", 1)[-1].lower().removeprefix("meta-")
    previous = None
    while previous != bare:
        previous, bare = bare, _CHECKPOINT_TAGS.sub("", bare)
    key = _alnum(bare)
    return [k for k in known if key and _alnum(k) == key]


class DoesNotFitError(InputError):
    """A configuration that cannot run, e.g. it needs more memory than a GPU has."""


def bounds_text(low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> str:
    """`` >= 0``, `` in (0, 1]`` or nothing: bounds in words, for "expected a finite
    number{bounds}" messages."""
    if low is not None and high is not None:
        return (f" in {'(' if low_open else '['}{low:g}, {high:g}"
                f"{')' if high_open else ']'}")
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def in_bounds(value: float, low: float | None = None, high: float | None = None, *,
              low_open: bool = False, high_open: bool = False) -> bool:
    """Is ``value`` a finite number within the bounds? ``False`` for NaN and +-inf, which
    plain comparisons (``x < 0``) let through."""
    return (math.isfinite(value)
            and (low is None or (value > low if low_open else value >= low))
            and (high is None or (value < high if high_open else value <= high)))


def check_number(value: float, where: str, low: float | None = None,
                 high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """``value`` if it is a finite number within the bounds, else :class:`InputError`
    ``where: expected a finite number >= 0, got nan`` (``where`` names the field or flag).
    The range check of the Python API's own inputs (the CLI's :class:`Finite` type says the
    same at the flag)."""
    if not in_bounds(value, low, high, low_open=low_open, high_open=high_open):
        raise InputError(f"expected a finite number"
                         f"{bounds_text(low, high, low_open=low_open, high_open=high_open)}, "
                         f"got {value!r}", where=where)
    return value
