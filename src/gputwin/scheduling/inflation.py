"""The FGD paper's workload-inflation experiment, driven through the real framework.

Weng et al. (USENIX ATC'23, Sec. 6) replay pods drawn from the trace onto the cluster with
no departures until the arrived GPU demand exceeds the cluster's capacity; a pod that
cannot be placed on arrival fails. They plot the GPU demand left unallocated against the
arrived demand (as a share of capacity). :func:`inflate` does the same with a scheduling
profile: per pod one ``submit`` → ``schedule`` (on a snapshot of a real
:class:`~gputwin.cluster.ledger.Ledger`) → ``ledger.allocate``; a pod not started in its
cycle is dropped from the queue (failed).

``unallocated_gpus`` at a mark = arrived GPU demand − GPU capacity held by placed pods
(fractional pods count their share), in GPUs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Ledger
from gputwin.cluster.snapshot import take_snapshot
from gputwin.errors import InputError
from gputwin.scheduling.api import PluginContext
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.hooks import ObservesWorkload
from gputwin.scheduling.plugins.fractional import SharedGpuPlacement
from gputwin.scheduling.profiles import build_framework, resolve_profile
from gputwin.workload.job import JobSpec


@dataclass(frozen=True, slots=True)
class InflationResult:
    """``marks`` (arrived demand / capacity) and, at each, the unallocated demand (GPUs)
    and the share of capacity held; ``first_failure_frac``: share of capacity held when the
    first pod failed; ``frag_rate``: FGD fragmentation rate at each mark (FGD only)."""

    profile: str
    capacity_gpus: float
    marks: tuple[float, ...]
    unallocated_gpus: tuple[float, ...]
    allocated_frac: tuple[float, ...]
    first_failure_frac: float | None
    placed: int
    failed: int
    frag_rate: tuple[float, ...] = field(default=())
    frag_gpus: tuple[float, ...] = field(default=())

    @property
    def idle_gpus(self) -> tuple[float, ...]:
        """GPU capacity not held at each mark (the paper's measure past 100 % demand)."""
        return tuple(self.capacity_gpus * (1.0 - a) for a in self.allocated_frac)


def inflate(profile: str, pool: Sequence[JobSpec], layout: ClusterLayout, *,
            marks: Sequence[float] = (0.9, 0.95, 1.0), seed: int = 0,
            args: dict[str, dict[str, object]] | None = None,
            target_jobs: Sequence[JobSpec] | None = None,
            host_pods: Sequence[tuple[float, float]] = ()) -> InflationResult:
    """Draw pods from ``pool`` (uniformly, with replacement; ``seed``) until the arrived
    GPU demand reaches each of ``marks`` × capacity. ``host_pods``: CPU-only pods
    ``(cpu_milli, memory_bytes)`` drawn along with ``pool`` (uniformly over both) and placed
    by the placement plugin's own ranking (CPU and memory only; not counted as demand).
    ``target_jobs`` (default ``pool``) is what plugins with ``observe_workload`` (FGD) see.
    Raises :class:`InputError` for an empty pool or unknown profile."""
    if not pool:
        raise InputError("inflate: empty pod pool")
    ctx = PluginContext(layout=layout, estimate_runtime=lambda job: math.inf)
    fw = build_framework(resolve_profile(profile, None, args), ctx)
    placement = fw.plugins.placement
    for plugin in fw.plugins.all():
        if isinstance(plugin, ObservesWorkload):
            plugin.observe_workload(list(target_jobs if target_jobs is not None else pool))
    run = _Run(fw, Ledger(layout), float(layout.total_gpus))
    rng = np.random.default_rng(seed)
    goals = sorted(marks)
    k = 0
    while len(run.unalloc) < len(goals):
        draw = int(rng.integers(len(pool) + len(host_pods)))
        k += 1
        if draw >= len(pool):
            if isinstance(placement, SharedGpuPlacement):
                placement.place_host_only(f"inflate-host-{k:06d}", *host_pods[draw - len(pool)])
            continue
        run.submit(replace(pool[draw], job_id=f"inflate-{k:06d}", submit_time_s=float(k)), k)
        while (len(run.unalloc) < len(goals)
               and run.arrived >= goals[len(run.unalloc)] * run.capacity):
            run.mark(placement)
    return InflationResult(profile, run.capacity, tuple(goals), tuple(run.unalloc),
                           tuple(run.alloc), run.first_failure, run.placed, run.failed,
                           tuple(run.frag), tuple(run.frag_gpus))


class _Run:
    """The experiment's running state: one pod per scheduling cycle, no departures."""

    def __init__(self, fw: Framework, ledger: Ledger, capacity: float) -> None:
        self.fw, self.ledger, self.capacity = fw, ledger, capacity
        self.arrived = self.held = 0.0
        self.first_failure: float | None = None
        self.placed = self.failed = 0
        self.unalloc: list[float] = []
        self.alloc: list[float] = []
        self.frag: list[float] = []
        self.frag_gpus: list[float] = []

    def submit(self, job: JobSpec, k: int) -> None:
        """One pod: submitted, scheduled on a snapshot, allocated — or failed."""
        self.arrived += job.gpu_demand
        started = False
        if self.fw.submit(job, float(k)) is None:
            result = self.fw.schedule(float(k), take_snapshot(self.ledger))
            for decision in result.starts:
                self.ledger.allocate(decision.job.job_id, decision.placement)
                self.held += decision.placement.gpu_milli / 1000.0
                started = started or decision.job.job_id == job.job_id
            self.fw.remove_queued([q.job_id for q in self.fw.queue.jobs()])
        if started:
            self.placed += 1
            return
        self.failed += 1
        if self.first_failure is None:
            self.first_failure = self.held / self.capacity

    def mark(self, placement: object) -> None:
        """Record the metrics at a demand mark."""
        self.unalloc.append(self.arrived - self.held)
        self.alloc.append(self.held / self.capacity)
        value = (placement.fragmentation_sample()
                 if isinstance(placement, SharedGpuPlacement) else None)
        if value is not None:
            self.frag_gpus.append(float(value[0]))
            self.frag.append(float(value[1]))
