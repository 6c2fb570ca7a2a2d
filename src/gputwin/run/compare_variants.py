"""Variants of a comparison: ``--set key=a,b`` options expanded into their Cartesian product.

Each ``--set`` value is split at *top-level* commas: commas inside brackets (``[1, 2]``),
braces (``{mode: easy, runtime_estimate: oracle}``), parentheses or quotes (``'a,b'``,
``"a,b"``) do not split, and ``\\,`` is a literal comma. Every piece is then one YAML value,
exactly as ``gputwin simulate --set`` reads it. An option with one value applies to every
variant ("common"); options with several values are the axes. The first axis varies
slowest; the first variant (every axis at its first value) is the baseline. Labels are
the values (one axis) or ``name=value, ...`` with the last segment of each key (several
axes).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gputwin.errors import InputError
from gputwin.limits import MAX_COMPARE_RUNS
from gputwin.scenario.overrides import parse_override

_OPEN = {"[": "]", "{": "}", "(": ")"}


@dataclass(frozen=True, slots=True)
class Variant:
    """One combination: its label (the axis values) and every override to apply."""

    label: str
    overrides: tuple[str, ...]  # common options first, then this variant's axis values
    axis_values: tuple[tuple[str, str], ...]  # (key, value text) per axis


def split_values(raw: str, where: str) -> list[str]:
    """Split at top-level commas (see the module docstring); raises :class:`InputError`."""
    pieces: list[str] = []
    buf: list[str] = []
    stack: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] == "," and quote is None:
            buf.append(",")
            i += 2
            continue
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            stack.append(_OPEN[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
        elif ch == "," and not stack:
            pieces.append("".join(buf).strip())
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    if quote is not None or stack:
        raise InputError("unbalanced quotes or brackets in the value", where=where)
    pieces.append("".join(buf).strip())
    if any(p == "" for p in pieces):
        raise InputError("empty value in the comma-separated list", where=where)
    return pieces


def expand_variants(sets: Sequence[str]) -> list[Variant]:
    """The variants for ``--set`` options (in order); raises :class:`InputError`.

    A key may not be an axis twice, and ``seed`` may not be an axis (seeds are the
    replications: use ``--seeds``).
    """
    common: list[str] = []
    axes: list[tuple[str, list[str]]] = []
    for text in sets:
        where = f"--set {text}"
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise InputError("expected key.path=value[,value...]", where=where)
        key = key.strip()
        values = split_values(raw, where) if raw.strip() else [raw]
        for value in values:
            parse_override(f"{key}={value}")  # YAML and key syntax checked up front
        if len(values) == 1:
            common.append(f"{key}={values[0]}")
            continue
        if key == "seed":
            raise InputError("seed cannot vary between variants; the seeds are the "
                             "replications (use --seeds N)", where=where)
        if any(k == key for k, _ in axes):
            raise InputError(f"{key} is already varied by an earlier --set", where=where)
        if len(set(values)) != len(values):
            raise InputError("the same value is listed twice", where=where)
        axes.append((key, values))
    fixed = {c.partition("=")[0] for c in common}
    for key, _ in axes:  # a fixed value the axis overrides in every variant: never used
        if key in fixed:
            raise InputError(f"{key} is both fixed and varied by --set; give it once",
                             where=f"--set {key}")
    if not axes:
        return [Variant("baseline", tuple(common), ())]
    check_runs(math.prod(len(values) for _, values in axes), 1, "--set")  # before expanding
    variants = []
    for combo in itertools.product(*(values for _, values in axes)):
        pairs = tuple((key, value) for (key, _), value in zip(axes, combo, strict=True))
        label = combo[0] if len(axes) == 1 else ", ".join(f"{_short(k)}={v}" for k, v in pairs)
        variants.append(Variant(label, (*common, *(f"{k}={v}" for k, v in pairs)), pairs))
    return variants


def _short(key: str) -> str:
    """``scheduler.profile`` → ``profile`` (the last segment of the key path)."""
    return key.replace("[", ".").replace("]", "").split(".")[-1]


def check_runs(num_variants: int, seeds: int, where: str) -> None:
    """Refuse ``num_variants`` x ``seeds`` above :data:`gputwin.limits.MAX_COMPARE_RUNS`."""
    runs = num_variants * seeds
    if runs > MAX_COMPARE_RUNS.value:
        lim = MAX_COMPARE_RUNS
        if seeds == 1:
            made = f"{num_variants:,} variants"
        elif num_variants == 1:
            made = f"{seeds:,} seeds"
        else:
            made = f"{num_variants:,} variants x {seeds:,} seeds = {runs:,} runs"
        raise InputError(f"{made}, above the limit of {lim.value:,} {lim.unit} ({lim.why})",
                         where=where)
