"""The scheduler section of a scenario → a checked profile (plugin names, typed args).

Errors name the field and where it came from, e.g.
``s.yaml:9: scheduler.args.backfill.mode: Input should be 'easy' or 'conservative' ...``
or ``s.yaml:8: scheduler.plugins.score.0: unknown score plugin 'binpak'; did you mean
'binpack'?``.
"""

from __future__ import annotations

from collections.abc import Callable

from gputwin.errors import InputError
from gputwin.scenario.schema import SchedulerConfig
from gputwin.scheduling.profiles import ResolvedProfile, resolve_profile
from gputwin.yaml_io import KeyPath, format_key_path

Locator = Callable[[KeyPath], str]


def scheduler_profile(config: SchedulerConfig, locate: Locator | None = None, *,
                      torus: bool = False) -> ResolvedProfile:
    """Resolve ``config`` (new or legacy form) into a checked profile. ``torus``: the
    cluster has ``optics:``, so jobs are placed as torus slices (``torus-slices``)."""

    def where(path: tuple[str | int, ...]) -> str:
        full: KeyPath = ("scheduler", *path)
        name = format_key_path(full)
        return f"{locate(full)}: {name}" if locate is not None else name

    profile, plugins = config.profile, dict(config.plugins or {})
    if config.policy is not None or config.placement is not None:
        if profile is not None or config.plugins:
            raise InputError("give either `profile`/`plugins` or the legacy `policy`/"
                             "`placement`, not both", where=where(("policy",)))
        profile = "fifo"
        if config.placement == "leaf_pack":
            plugins["placement"] = "topology"
    if torus:
        given = plugins.get("placement")
        if given not in (None, "torus-slices", "placement/torus-slices"):
            raise InputError(f"a cluster with `optics:` places jobs as torus slices; "
                             f"placement {given!r} cannot be used there",
                             where=where(("plugins", "placement")))
        plugins["placement"] = "torus-slices"
    return resolve_profile(profile, plugins or None, config.args, where=where)
