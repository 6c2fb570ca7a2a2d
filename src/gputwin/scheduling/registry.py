"""Plugins registered by readable name: ``"<point>/<name>"`` (``"score/binpack"``).

Built-in plugins are listed and registered in :mod:`gputwin.scheduling.builtins` (when
:mod:`gputwin.scheduling` is imported); a plugin in another package registers itself with
:func:`register`. Duplicate names are rejected; unknown names raise
:class:`~gputwin.errors.UnknownNameError` with close-match suggestions.
"""

from __future__ import annotations

from typing import TypeVar

from gputwin.errors import InputError, UnknownNameError
from gputwin.scheduling.api import Plugin

#: Extension points in YAML spelling (``queue_sort``) → registry prefix (``queue-sort``).
POINTS: dict[str, str] = {
    "queue_sort": "queue-sort",
    "queueing": "queueing",
    "pre_filter": "pre-filter",
    "filter": "filter",
    "score": "score",
    "placement": "placement",
    "reserve": "reserve",
    "permit": "permit",
    "bind": "bind",
    "post_filter": "post-filter",
}

_REGISTRY: dict[str, type[Plugin]] = {}
P = TypeVar("P", bound=type[Plugin])


def register(cls: P) -> P:
    """Class decorator: add ``cls`` under ``cls.name``. Raises ``ValueError`` on a
    duplicate or malformed name (a programming error, found at import time)."""
    name = cls.name
    prefix = POINTS.get(cls.point)
    if prefix is None or not name.startswith(prefix + "/") or name.count("/") != 1:
        raise ValueError(f"plugin name {name!r} must be '{prefix or cls.point}/<name>'")
    if name in _REGISTRY:
        raise ValueError(f"plugin {name!r} is already registered")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a plugin (tests)."""
    _REGISTRY.pop(name, None)


def full_name(point: str, short: str) -> str:
    """``("score", "binpack")`` → ``"score/binpack"`` (a full name passes through)."""
    prefix = POINTS[point]
    return short if short.startswith(prefix + "/") else f"{prefix}/{short}"


def lookup(point: str, short: str, *, where: str | None = None) -> type[Plugin]:
    """The plugin class for ``short`` at ``point``; raises :class:`UnknownNameError`."""
    if point not in POINTS:
        raise InputError(f"unknown extension point {point!r}; expected one of "
                         f"{', '.join(POINTS)}", where=where)
    name = full_name(point, short)
    cls = _REGISTRY.get(name)
    if cls is None:
        prefix = POINTS[point] + "/"
        known = [n.removeprefix(prefix) for n in _REGISTRY if n.startswith(prefix)]
        raise UnknownNameError(f"{point} plugin", short, known, where=where)
    return cls


def registered(point: str | None = None) -> list[str]:
    """Sorted full names, optionally of one extension point."""
    prefix = "" if point is None else POINTS[point] + "/"
    return sorted(n for n in _REGISTRY if n.startswith(prefix))


def is_registered(cls: type[Plugin]) -> bool:
    """Whether ``cls`` itself is registered under its name."""
    return _REGISTRY.get(cls.name) is cls
