"""Workloads: job specs, synthetic generators, trace readers (one module per format).

The names below are imported on first use (PEP 562): an LLM trace reader does not load
the cluster job model and its scheduling dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gputwin.workload.job import JobSpec
    from gputwin.workload.philly_csv import read_philly_csv
    from gputwin.workload.synthetic import (
        ArrivalSpec,
        JobTemplate,
        arrival_times,
        generate_synthetic,
    )

_EXPORTS: dict[str, str] = {
    "ArrivalSpec": "synthetic", "JobSpec": "job", "JobTemplate": "synthetic",
    "arrival_times": "synthetic", "generate_synthetic": "synthetic",
    "read_philly_csv": "philly_csv",
}

__all__ = [
    "ArrivalSpec",
    "JobSpec",
    "JobTemplate",
    "arrival_times",
    "generate_synthetic",
    "read_philly_csv",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
