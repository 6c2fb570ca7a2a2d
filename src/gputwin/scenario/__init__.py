"""Scenarios: the typed, validated description of what to simulate (see docs/scenario.md).

The names below are imported on first use (PEP 562), so that importing one submodule
(e.g. :mod:`gputwin.scenario.serving` for ``gputwin simulate serve``) does not load the
cluster scenario schema and its scheduling, tenancy and energy dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gputwin.scenario.load import load_scenario, resolve_scenario_path
    from gputwin.scenario.paths import DEFAULT_SCENARIO, bundled_scenarios, data_dir
    from gputwin.scenario.schema import (
        ArrivalConfig,
        ClusterConfig,
        NetworkConfig,
        Scenario,
        SchedulerConfig,
        SyntheticConfig,
        TemplateConfig,
        TraceConfig,
        WorkloadConfig,
    )

_EXPORTS: dict[str, str] = {
    "load_scenario": "load", "resolve_scenario_path": "load", "DEFAULT_SCENARIO": "paths",
    "bundled_scenarios": "paths", "data_dir": "paths", "ArrivalConfig": "schema",
    "ClusterConfig": "schema", "NetworkConfig": "schema", "Scenario": "schema",
    "SchedulerConfig": "schema", "SyntheticConfig": "schema", "TemplateConfig": "schema",
    "TraceConfig": "schema", "WorkloadConfig": "schema",
}

__all__ = [
    "DEFAULT_SCENARIO",
    "ArrivalConfig",
    "ClusterConfig",
    "NetworkConfig",
    "Scenario",
    "SchedulerConfig",
    "SyntheticConfig",
    "TemplateConfig",
    "TraceConfig",
    "WorkloadConfig",
    "bundled_scenarios",
    "data_dir",
    "load_scenario",
    "resolve_scenario_path",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
