"""The curated public Python API of gputwin.

Everything a notebook or another tool needs, importable from one place::

    from gputwin.api import TrainRequest, TrainLayout, estimate_train, plan_train
    from gputwin.api import estimate_collective, simulate, load_scenario
    from gputwin.api import estimate_serve, estimate_energy, load_serving_scenario, simulate_serving

    est = estimate_train(TrainRequest(model="llama3-70b", gpu="h100-sxm-80gb", num_gpus=64,
                                      global_batch_tokens=4e6,
                                      layout=TrainLayout(tp=4, pp=4, sequence_parallel=True)))
    plan = plan_train(TrainPlanRequest(model="llama3-70b", gpu="h100-sxm-80gb", num_gpus=[64]))

Each function returns typed objects (``TrainingEstimate``, ``CollectiveEstimate``,
``SimulationResult``) with the same numbers the CLI prints; ``.to_dict()`` gives the
CLI's JSON. Names are resolved lazily so ``import gputwin.api`` stays cheap; type checkers
see the real definitions (the ``TYPE_CHECKING`` imports below), so users' code type-checks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the lazy names' real types, for users' type checkers (= _EXPORTS)
    from gputwin.catalog.hf_config import model_from_hf_config as model_from_hf_config
    from gputwin.catalog.loader import Catalog as Catalog
    from gputwin.catalog.loader import default_catalog as default_catalog
    from gputwin.catalog.loader import load_catalog as load_catalog
    from gputwin.errors import DoesNotFitError as DoesNotFitError
    from gputwin.errors import InputError as InputError
    from gputwin.errors import UnknownNameError as UnknownNameError
    from gputwin.perf.memory import MemoryBreakdown as MemoryBreakdown
    from gputwin.perf.training import ParallelConfig as ParallelConfig
    from gputwin.perf.training import TrainingConfig as TrainingConfig
    from gputwin.perf.training import TrainingEstimate as TrainingEstimate
    from gputwin.perf.training import estimate_training as estimate_training
    from gputwin.requests import CollectiveRequest as CollectiveRequest
    from gputwin.requests import EnergyRequest as EnergyRequest
    from gputwin.requests import ServeRequest as ServeRequest
    from gputwin.requests import TrainLayout as TrainLayout
    from gputwin.requests import TrainPlanRequest as TrainPlanRequest
    from gputwin.requests import TrainRequest as TrainRequest
    from gputwin.run.estimate_collective import estimate_collective as estimate_collective
    from gputwin.run.estimate_energy import EnergyEstimate as EnergyEstimate
    from gputwin.run.estimate_energy import estimate_energy as estimate_energy
    from gputwin.run.estimate_rag import RagEstimate as RagEstimate
    from gputwin.run.estimate_rag import RagRequest as RagRequest
    from gputwin.run.estimate_rag import estimate_rag as estimate_rag
    from gputwin.run.estimate_serve import ServingEstimate as ServingEstimate
    from gputwin.run.estimate_serve import estimate_serve as estimate_serve
    from gputwin.run.estimate_train import estimate_train as estimate_train
    from gputwin.run.plan_train import TrainPlan as TrainPlan
    from gputwin.run.plan_train import plan_train as plan_train
    from gputwin.run.results import JobRecord as JobRecord
    from gputwin.run.results import SimulationResult as SimulationResult
    from gputwin.run.serving_results import ServingResult as ServingResult
    from gputwin.run.simulate import simulate as simulate
    from gputwin.run.simulate_serve import simulate_serving as simulate_serving
    from gputwin.scenario.load import load_scenario as load_scenario
    from gputwin.scenario.serving import load_serving_scenario as load_serving_scenario
    from gputwin.topology.collectives import CollectiveEstimate as CollectiveEstimate
    from gputwin.topology.collectives import CollectiveOp as CollectiveOp
    from gputwin.topology.collectives import collective_time as collective_time
    from gputwin.topology.hardware import HardwareSpec as HardwareSpec
    from gputwin.topology.hardware import NetworkTopology as NetworkTopology
    from gputwin.topology.hardware import resolve_hardware as resolve_hardware

#: public name → module that defines it
_EXPORTS: dict[str, str] = {
    "estimate_train": "gputwin.run.estimate_train",
    "TrainRequest": "gputwin.requests",
    "TrainLayout": "gputwin.requests",
    "TrainPlanRequest": "gputwin.requests",
    "EnergyRequest": "gputwin.requests",
    "CollectiveRequest": "gputwin.requests",
    "ServeRequest": "gputwin.requests",
    "plan_train": "gputwin.run.plan_train",
    "TrainPlan": "gputwin.run.plan_train",
    "estimate_collective": "gputwin.run.estimate_collective",
    "estimate_training": "gputwin.perf.training",
    "TrainingEstimate": "gputwin.perf.training",
    "ParallelConfig": "gputwin.perf.training",
    "TrainingConfig": "gputwin.perf.training",
    "MemoryBreakdown": "gputwin.perf.memory",
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
    "estimate_rag": "gputwin.run.estimate_rag",
    "RagRequest": "gputwin.run.estimate_rag",
    "RagEstimate": "gputwin.run.estimate_rag",
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
