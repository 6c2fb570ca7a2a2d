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
        hook = getattr(plugin, "observe_workload", None)
        if callable(hook):
            hook(list(target_jobs if target_jobs is not None else pool))
    ledger = Ledger(layout)
    capacity = float(layout.total_gpus)
    rng = np.random.default_rng(seed)
    goals = sorted(marks)
    arrived = held = 0.0
    first_failure: float | None = None
    unalloc: list[float] = []
    alloc: list[float] = []
    frag: list[float] = []
    frag_gpus: list[float] = []
    sample = getattr(placement, "fragmentation_sample", None)
    placed = failed = k = 0
    while len(unalloc) < len(goals):
        draw = int(rng.integers(len(pool) + len(host_pods)))
        k += 1
        if draw >= len(pool):
            _place_host(placement, f"inflate-host-{k:06d}", host_pods[draw - len(pool)])
            continue
        pod = pool[draw]
        job = replace(pod, job_id=f"inflate-{k:06d}", submit_time_s=float(k))
        arrived += job.gpu_demand
        started = False
        if fw.submit(job, float(k)) is None:
            result = fw.schedule(float(k), take_snapshot(ledger))
            for decision in result.starts:
                ledger.allocate(decision.job.job_id, decision.placement)
                held += decision.placement.gpu_milli / 1000.0
                started = started or decision.job.job_id == job.job_id
            fw.remove_queued([q.job_id for q in fw.queued_jobs()])
        if started:
            placed += 1
        else:
            failed += 1
            if first_failure is None:
                first_failure = held / capacity
        while len(unalloc) < len(goals) and arrived >= goals[len(unalloc)] * capacity:
            unalloc.append(arrived - held)
            alloc.append(held / capacity)
            value = sample() if callable(sample) else None
            if value is not None:
                frag_gpus.append(float(value[0]))
                frag.append(float(value[1]))
    return InflationResult(profile, capacity, tuple(goals), tuple(unalloc), tuple(alloc),
                           first_failure, placed, failed, tuple(frag), tuple(frag_gpus))


def _place_host(placement: object, pod_id: str, pod: tuple[float, float]) -> bool:
    """A CPU-only pod through a sharing placement (others cannot place one: dropped)."""
    place = getattr(placement, "place_host_only", None)
    return bool(place(pod_id, *pod)) if callable(place) else False
