"""The curated public Python API of gputwin.

Everything a notebook or another tool needs, importable from one place::

    from gputwin.api import estimate_train, estimate_collective, simulate, load_scenario
    from gputwin.api import estimate_serve, estimate_energy, load_serving_scenario, simulate_serving

Each function returns typed objects (``TrainingEstimate``, ``CollectiveEstimate``,
``SimulationResult``) with the same numbers the CLI prints; ``.to_dict()`` gives the
CLI's JSON. Names are resolved lazily so ``import gputwin.api`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name → module that defines it
_EXPORTS: dict[str, str] = {
    "estimate_train": "gputwin.run.estimate_train",
    "estimate_collective": "gputwin.run.estimate_collective",
    "estimate_training": "gputwin.perf.training",
    "TrainingEstimate": "gputwin.perf.training",
    "ParallelConfig": "gputwin.perf.training",
    "TrainingConfig": "gputwin.perf.training",
    "MemoryBreakdown": "gputwin.perf.training",
    "collective_time": "gputwin.topology.collectives",
    "CollectiveEstimate": "gputwin.topology.collectives",
    "CollectiveOp": "gputwin.topology.collectives",
    "resolve_hardware": "gputwin.topology.hardware",
    "HardwareSpec": "gputwin.topology.hardware",
    "NetworkTopology": "gputwin.topology.hardware",
    "default_catalog": "gputwin.catalog.loader",
    "load_catalog": "gputwin.catalog.loader",
    "Catalog": "gputwin.catalog.loader",
    "model_from_hf_config": "gputwin.catalog.hf_config",
    "load_scenario": "gputwin.scenario.load",
    "simulate": "gputwin.run.simulate",
    "SimulationResult": "gputwin.run.results",
    "estimate_serve": "gputwin.run.estimate_serve",
    "ServingEstimate": "gputwin.run.estimate_serve",
    "estimate_energy": "gputwin.run.estimate_energy",
    "EnergyEstimate": "gputwin.run.estimate_energy",
    "load_serving_scenario": "gputwin.scenario.serving",
    "simulate_serving": "gputwin.run.simulate_serve",
    "ServingResult": "gputwin.run.serving_results",
    "JobRecord": "gputwin.run.results",
    "InputError": "gputwin.errors",
    "DoesNotFitError": "gputwin.errors",
    "UnknownNameError": "gputwin.errors",
}

__all__ = sorted([*_EXPORTS, "write_outputs"])


def write_outputs(result: Any, out_dir: Any) -> Any:
    """Write ``summary.json``, ``jobs.csv`` and ``report.html`` of a run into ``out_dir``.

    Returns the paths written (a dict name → Path). Writes atomically: on error nothing
    half-written is left behind.
    """
    from pathlib import Path

    from gputwin.report.html import render_report
    from gputwin.run.outputs import write_outputs as _write

    return _write(result, Path(out_dir), render_html=render_report)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'gputwin.api' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
