"""Job-level scheduling framework: extension points, plugins, profiles (docs/scheduling.md)."""

from gputwin.scheduling.api import (
    BindPlugin,
    CycleResult,
    CycleState,
    Decision,
    FilterPlugin,
    PermitPlugin,
    PlacementPlugin,
    Plugin,
    PluginArgs,
    PluginContext,
    PostFilterPlugin,
    PostFilterResult,
    Preemption,
    PreFilterPlugin,
    QueuedJob,
    QueueingPlugin,
    QueueSortPlugin,
    Rejection,
    ReservePlugin,
    RunningJob,
    ScorePlugin,
)
from gputwin.scheduling.base import Scheduler
from gputwin.scheduling.builtins import register_builtins
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.placement import PLACERS, Placer, first_fit, group_pack, leaf_pack
from gputwin.scheduling.plugin_chain import FrameworkPlugins
from gputwin.scheduling.profiles import (
    PROFILES,
    ProfileSpec,
    ResolvedProfile,
    build_framework,
    resolve_profile,
)
from gputwin.scheduling.registry import POINTS, lookup, register, registered
from gputwin.scheduling.status import Code, Status

register_builtins()  # the one place the built-in plugins enter the registry

__all__ = [
    "PLACERS", "POINTS", "PROFILES", "BindPlugin", "Code", "CycleResult", "CycleState",
    "Decision", "FilterPlugin", "Framework", "FrameworkPlugins", "PermitPlugin",
    "PlacementPlugin", "Placer", "Plugin", "PluginArgs", "PluginContext", "PostFilterPlugin",
    "PostFilterResult", "PreFilterPlugin", "Preemption", "ProfileSpec", "QueueSortPlugin",
    "QueuedJob", "QueueingPlugin", "Rejection", "ReservePlugin", "ResolvedProfile",
    "RunningJob", "Scheduler", "ScorePlugin", "Status", "build_framework", "first_fit",
    "group_pack", "leaf_pack", "lookup", "register", "registered", "resolve_profile",
]
