"""Scenarios: the typed, validated description of what to simulate (see docs/scenario.md)."""

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
