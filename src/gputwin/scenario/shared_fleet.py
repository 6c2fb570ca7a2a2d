"""``serving:`` inside a cluster scenario: inference services on the training fleet.

A cluster scenario (``cluster:``, ``workload:``, ``scheduler:``) may add a ``serving:``
section (the serving scenario's section: services, request workload) plus how the
services' replicas meet the training jobs on the cluster scheduler: their
``priority`` (above the training jobs' so that the ``priority`` profile's preemption lets
inference take GPUs from training at a peak), ``tenant`` and ``queue`` (quotas). Each
replica is a gang job of ``tp · pp`` GPUs of the cluster's own GPU type
(docs/shared-fleet.md). A service that names no ``gpu``/``system`` runs on the cluster's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError
from gputwin.scenario.serving import (
    ServingScenario,
    ServingSection,
    check_serving,
    resolve_trace_paths,
)
from gputwin.yaml_io import KeyPath


class FleetServing(ServingSection):
    """The serving section of a shared-fleet scenario."""

    priority: int = Field(default=100, description="Scheduling priority of every replica "
                          "(training jobs have 0; higher preempts lower under the "
                          "`priority` profile)")
    tenant: str = Field(default="serving", description="Tenant the replicas are charged to")
    queue: str = Field(default="", description="Scheduler queue (Kueue-style quota) of the "
                       "replicas; '' = the default queue")
    warm_start: bool = Field(default=True, description="The initial replicas hold their "
                             "weights already (serve as soon as placed); later ones load "
                             "them from storage first")

    @model_validator(mode="after")
    def _supported(self) -> FleetServing:
        if self.max_total_gpus is not None:
            raise ValueError("max_total_gpus: in a shared fleet the cluster and its "
                             "scheduler (quotas) bound the replicas; drop it")
        for i, s in enumerate(self.services):
            if s.disaggregation is not None:
                raise ValueError(f"services[{i}].disaggregation: disaggregated pools are "
                                 "not simulated on a shared fleet yet")
        return self


def fill_service_hardware(data: Any) -> Any:
    """Services that name no ``gpu``/``system`` run on the cluster's (raw scenario data,
    before validation)."""
    if not isinstance(data, dict):
        return data
    serving, cluster = data.get("serving"), data.get("cluster")
    if not isinstance(serving, dict) or not isinstance(cluster, dict):
        return data
    services = serving.get("services")
    if not isinstance(services, list):
        return data
    hw = {k: cluster[k] for k in ("gpu", "system") if cluster.get(k) is not None}
    filled = [{**hw, **s} if isinstance(s, dict) and "gpu" not in s and "system" not in s
              else s for s in services]
    return {**data, "serving": {**serving, "services": filled}}


def serving_view(name: str, seed: int, horizon_s: float | None,
                 serving: FleetServing) -> ServingScenario:
    """The serving section as a serving scenario (to reuse its checks and builders)."""
    return ServingScenario(name=name, seed=seed, horizon=horizon_s, serving=serving)


def check_shared_serving(scenario: Any, catalog: Catalog,
                         locate: Callable[[KeyPath], str]) -> None:
    """Catalog names of the services and their GPU against the cluster's. Raises
    :class:`InputError` naming the file, line and field."""
    section = scenario.serving
    if section is None:
        return
    view = serving_view(scenario.name, scenario.seed, scenario.horizon, section)

    def where(key: KeyPath) -> str:
        return f"{locate(key)}: {'.'.join(str(k) for k in key)}"

    check_serving(view, catalog, where)
    cluster_gpu = _accelerator(catalog, scenario.cluster.system, scenario.cluster.gpu)
    for i, s in enumerate(section.services):
        gpu = _accelerator(catalog, s.system, s.gpu)
        if gpu != cluster_gpu:
            raise InputError(f"service {s.name!r} runs on {gpu}, the cluster has "
                             f"{cluster_gpu}: a shared fleet has one GPU type",
                             where=where(("serving", "services", i, "gpu")))


def _accelerator(catalog: Catalog, system: str | None, gpu: str | None) -> str:
    if gpu is not None:
        return gpu
    assert system is not None
    return catalog.system(system).accelerator


def resolve_shared_traces(scenario: Any, base_dir: Any,
                          locate: Callable[[KeyPath], str]) -> Any:
    """``scenario`` with the serving section's relative trace paths resolved."""
    if scenario.serving is None:
        return scenario
    view = serving_view(scenario.name, scenario.seed, scenario.horizon, scenario.serving)
    resolved = resolve_trace_paths(view, base_dir, lambda key: locate(key))
    section = scenario.serving.model_copy(update={"workload": resolved.serving.workload})
    return scenario.model_copy(update={"serving": section})


__all__ = ["FleetServing", "check_shared_serving", "fill_service_hardware",
           "resolve_shared_traces", "serving_view"]
