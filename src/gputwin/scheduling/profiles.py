"""Profiles: which plugin runs at each extension point, with weights and typed args.

A profile is plain data (:class:`ProfileSpec`); :func:`resolve_profile` checks names and
args (errors name the scenario field and suggest close matches) and :func:`build_framework`
instantiates it. Built-in named profiles are in :data:`PROFILES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from gputwin.errors import InputError, UnknownNameError
from gputwin.scheduling.api import (
    BindPlugin,
    FilterPlugin,
    PermitPlugin,
    PlacementPlugin,
    Plugin,
    PluginArgs,
    PluginContext,
    PostFilterPlugin,
    PreFilterPlugin,
    QueueingPlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
)
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.plugin_chain import FrameworkPlugins
from gputwin.scheduling.registry import POINTS, full_name, lookup

SINGLE_POINTS = ("queue_sort", "queueing", "placement")
LIST_POINTS = ("pre_filter", "filter", "score", "reserve", "permit", "bind", "post_filter")

#: Where a scenario field came from: key path → "file:line: field" (or similar).
Where = Callable[[tuple[str | int, ...]], str]


def _default_where(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in ("scheduler", *path))


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    """Plugin names per point (short names), score weights and raw args per plugin."""

    queue_sort: str = "fifo"
    queueing: str = "strict"
    placement: str = "first-fit"
    pre_filter: tuple[str, ...] = ()
    filter: tuple[str, ...] = ("node-healthy",)
    score: tuple[tuple[str, float], ...] = ()
    reserve: tuple[str, ...] = ()
    permit: tuple[str, ...] = ()
    bind: tuple[str, ...] = ()
    post_filter: tuple[str, ...] = ()
    args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


PROFILES: dict[str, ProfileSpec] = {
    "fifo": ProfileSpec(),
    "priority": ProfileSpec(queue_sort="priority", post_filter=("preempt-lowest-priority",)),
    "multifactor": ProfileSpec(queue_sort="multifactor", queueing="backfill",
                               args={"backfill": {"mode": "easy"}}),
    "backfill-easy": ProfileSpec(queueing="backfill", args={"backfill": {"mode": "easy"}}),
    "backfill-conservative": ProfileSpec(queueing="backfill",
                                         args={"backfill": {"mode": "conservative"}}),
    "best-effort": ProfileSpec(queueing="best-effort"),
    "binpack": ProfileSpec(score=(("binpack", 1.0),)),
    "spread": ProfileSpec(score=(("spread", 1.0),)),
    "topology": ProfileSpec(placement="topology"),
    "drf": ProfileSpec(queue_sort="drf", queueing="best-effort"),
    "defrag": ProfileSpec(placement="topology", post_filter=("defragment",)),
    # GPU sharing (plugins/fractional.py, docs/fractional-and-mig.md): every waiting pod is
    # tried each cycle, except pods of a request shape that already failed with fewer GPUs
    # (the pre-filter rejects pods no node can ever hold).
    "fgd": ProfileSpec(queueing="best-effort", placement="fgd", pre_filter=("feasible",)),
    "bestfit": ProfileSpec(queueing="best-effort", placement="bestfit",
                           pre_filter=("feasible",)),
    "gpu-packing": ProfileSpec(queueing="best-effort", placement="gpu-packing",
                               pre_filter=("feasible",)),
    # The FGD paper's other baselines (plugins/baselines.py).
    "dot-product": ProfileSpec(queueing="best-effort", placement="dot-product",
                               pre_filter=("feasible",)),
    "gpu-clustering": ProfileSpec(queueing="best-effort", placement="gpu-clustering",
                                  pre_filter=("feasible",)),
    "random-fit": ProfileSpec(queueing="best-effort", placement="random",
                              pre_filter=("feasible",)),
    "mig": ProfileSpec(queueing="best-effort", placement="mig", permit=("mig-reconfigure",)),
    # Carbon-aware (plugins/carbon*.py, docs/carbon-aware.md): best-effort queueing so a job
    # held for a cleaner hour never blocks the jobs behind it.
    "carbon-threshold": ProfileSpec(queueing="best-effort", pre_filter=("carbon-threshold",)),
    "carbon-window": ProfileSpec(queueing="best-effort", pre_filter=("carbon-window",)),
    "carbon-suspend": ProfileSpec(queueing="best-effort", pre_filter=("carbon-suspend",)),
    "carbon-spatial": ProfileSpec(queueing="best-effort", pre_filter=("carbon-spatial",),
                                  filter=("node-healthy", "carbon-region")),
    "carbon-cap": ProfileSpec(queueing="best-effort", bind=("carbon-power-cap",)),
}


@dataclass(frozen=True, slots=True)
class ResolvedProfile:
    """A checked profile: plugin classes with validated args, per point."""

    name: str
    single: dict[str, tuple[type[Plugin], PluginArgs]]
    lists: dict[str, list[tuple[type[Plugin], PluginArgs, float]]]


def resolve_profile(
    profile: str | None = None,
    plugins: Mapping[str, Any] | None = None,
    args: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    where: Where = _default_where,
) -> ResolvedProfile:
    """Start from the named ``profile`` (default ``fifo``), override points from
    ``plugins``, merge ``args`` (keyed by short or full plugin name) and validate.

    Raises :class:`UnknownNameError` (profile or plugin) or :class:`InputError` (bad
    args, args for a plugin not in the profile) naming the scenario field.
    """
    name = profile or "fifo"
    if name not in PROFILES:
        raise UnknownNameError("scheduler profile", name, list(PROFILES), where=where(("profile",)))
    spec = PROFILES[name]
    if plugins:
        spec = _override(spec, plugins, where)
        name = f"{name}+custom" if profile else "custom"
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in spec.args.items()}
    for key, value in (args or {}).items():
        if not isinstance(value, Mapping):
            raise InputError("plugin args must be a mapping", where=where(("args", key)))
        merged.setdefault(key, {}).update(value)
    single: dict[str, tuple[type[Plugin], PluginArgs]] = {}
    lists: dict[str, list[tuple[type[Plugin], PluginArgs, float]]] = {}
    used: dict[str, type[Plugin]] = {}
    for point in SINGLE_POINTS:
        short = getattr(spec, point)
        cls = lookup(point, short, where=where(("plugins", point)))
        used[cls.name] = cls
        single[point] = (cls, PluginArgs())
    for point in LIST_POINTS:
        entries = spec.score if point == "score" else tuple((n, 1.0) for n in getattr(spec, point))
        seen: set[str] = set()
        lists[point] = []
        for index, (short, weight) in enumerate(entries):
            cls = lookup(point, short, where=where(("plugins", point, index)))
            if cls.name in seen:
                raise InputError(f"plugin {short!r} listed twice",
                                 where=where(("plugins", point, index)))
            seen.add(cls.name)
            used[cls.name] = cls
            lists[point].append((cls, PluginArgs(), weight))
    validated = _validate_args(merged, used, where)
    for full, cls in used.items():  # plugins without args: their defaults (or an error)
        if full not in validated:
            validated[full] = _validated(cls, {}, full.split("/", 1)[1], where)
    single = {p: (c, validated[c.name]) for p, (c, _) in single.items()}
    lists = {p: [(c, validated[c.name], w) for c, _, w in v] for p, v in lists.items()}
    return ResolvedProfile(name, single, lists)


def _override(spec: ProfileSpec, plugins: Mapping[str, Any], where: Where) -> ProfileSpec:
    changes: dict[str, Any] = {}
    for point, value in plugins.items():
        if point not in POINTS:
            raise UnknownNameError("extension point", point, list(POINTS),
                                   where=where(("plugins", point)))
        if point in SINGLE_POINTS:
            if not isinstance(value, str):
                raise InputError("expected one plugin name", where=where(("plugins", point)))
            changes[point] = value
            continue
        items = [value] if isinstance(value, str | dict) else list(value or [])
        if point == "score":
            changes[point] = tuple(_score_entry(v, where, i) for i, v in enumerate(items))
        else:
            if not all(isinstance(v, str) for v in items):
                raise InputError("expected a list of plugin names",
                                 where=where(("plugins", point)))
            changes[point] = tuple(items)
    return replace(spec, **changes)


def _score_entry(value: Any, where: Where, index: int) -> tuple[str, float]:
    if isinstance(value, str):
        return value, 1.0
    if isinstance(value, dict) and set(value) <= {"name", "weight"} and "name" in value:
        weight = value.get("weight", 1.0)
        if isinstance(weight, int | float) and not isinstance(weight, bool) and weight >= 0:
            return str(value["name"]), float(weight)
    raise InputError("expected a name or {name: ..., weight: >= 0}",
                     where=where(("plugins", "score", index)))


def _validate_args(merged: Mapping[str, Mapping[str, Any]], used: Mapping[str, type[Plugin]],
                   where: Where) -> dict[str, PluginArgs]:
    by_short: dict[str, list[str]] = {}
    for full in used:
        by_short.setdefault(full.split("/", 1)[1], []).append(full)
    out: dict[str, PluginArgs] = {}
    for key, raw in merged.items():
        if key in used:
            full = key
        elif len(by_short.get(key, [])) == 1:
            full = by_short[key][0]
        elif len(by_short.get(key, [])) > 1:
            raise InputError(f"{key!r} is ambiguous; use one of {by_short[key]}",
                             where=where(("args", key)))
        else:
            raise UnknownNameError("plugin in this profile", key,
                                   sorted(by_short) + sorted(used), where=where(("args", key)))
        out[full] = _validated(used[full], raw, key, where)
    return out


def _validated(cls: type[Plugin], raw: Mapping[str, Any], key: str,
               where: Where) -> PluginArgs:
    """``cls``'s typed args from ``raw``; :class:`InputError` naming
    ``scheduler.args.<key>.<field>`` when invalid (a required field missing included)."""
    try:
        return cls.Args.model_validate(dict(raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        got = f" (got {err['input']!r})" if "input" in err and loc and raw else ""
        raise InputError(f"{err['msg']}{got}", where=where(("args", key, *loc))) from None


def build_framework(resolved: ResolvedProfile, ctx: PluginContext, *,
                    shortcuts: bool = True) -> Framework:
    """Instantiate every plugin of ``resolved`` (constructors do no I/O); ``shortcuts``:
    see :class:`Framework`."""

    def make(cls: type[Plugin], args: PluginArgs) -> Any:
        return cls(args, ctx)

    s = resolved.single
    lists = resolved.lists
    plugins = FrameworkPlugins(
        queue_sort=_typed(make(*s["queue_sort"]), QueueSortPlugin),
        queueing=_typed(make(*s["queueing"]), QueueingPlugin),
        placement=_typed(make(*s["placement"]), PlacementPlugin),
        pre_filter=[_typed(make(c, a), PreFilterPlugin) for c, a, _ in lists["pre_filter"]],
        filter=[_typed(make(c, a), FilterPlugin) for c, a, _ in lists["filter"]],
        score=[(_typed(make(c, a), ScorePlugin), w) for c, a, w in lists["score"] if w > 0],
        reserve=[_typed(make(c, a), ReservePlugin) for c, a, _ in lists["reserve"]],
        permit=[_typed(make(c, a), PermitPlugin) for c, a, _ in lists["permit"]],
        bind=[_typed(make(c, a), BindPlugin) for c, a, _ in lists["bind"]],
        post_filter=[_typed(make(c, a), PostFilterPlugin) for c, a, _ in lists["post_filter"]],
    )
    return Framework(plugins, ctx, profile=resolved.name, shortcuts=shortcuts)


def _typed(obj: Any, kind: type[Any]) -> Any:
    if not isinstance(obj, kind):
        raise TypeError(f"plugin {type(obj).__name__} is not a {kind.__name__}")
    return obj


def plugin_full_name(point: str, short: str) -> str:
    return full_name(point, short)
