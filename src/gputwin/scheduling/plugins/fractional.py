"""Placement plugins for GPU-sharing workloads: FGD, best-fit and GPU packing.

Each plugin places one job (a pod) on one node and chooses its GPUs: fractional pods
(``gpu_milli`` < 1000, one GPU, possibly shared with other pods), whole-GPU pods (1..n GPUs
of one node) and, on uniform clusters, gangs wider than a node (whole free nodes). CPU and
host memory of the node are extra dimensions when the inventory has them (openb), and
``gpu_type`` (``"V100M16|V100M32"``) must name the node's GPU model.

- ``placement/fgd``: Fragmentation Gradient Descent (Weng et al., USENIX ATC'23): the node
  and GPU where the cluster's expected fragmentation w.r.t. the *target workload* grows
  least. The target workload is the request distribution of the run's jobs (``target:
  trace``; the composition root hands the jobs over via :meth:`observe_workload`) or
  given by hand (``target: explicit`` with ``target_gpus: {0.5: 3, 1: 5, 8: 1}``).
- ``placement/bestfit``: least GPU (and CPU) share left on the node after placement.
- ``placement/gpu-packing``: a partly used GPU first, then a partly used node, then an
  idle node (the FGD paper's "GPU packing" baseline, our tiered reading).

State: a :class:`~gputwin.scheduling.plugins.sharing.GpuMirror` kept by the ``on_start`` /
``on_stop`` hooks (see that module for the one limitation). FGD's
:class:`~gputwin.cluster.fragmentation.FragmentationIndex` is updated for changed nodes
only. ``last_fragmentation()`` and ``unallocated_gpus()`` expose the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from gputwin.cluster.fragmentation import (
    TargetWorkload,
    bestfit_scores,
    choose_gpus,
    gpu_packing_scores,
)
from gputwin.cluster.ledger import GpuShare, Placement, make_placement
from gputwin.cluster.sharing import MILLI_PER_GPU, GpuRequest
from gputwin.errors import InputError
from gputwin.scheduling.api import (
    CycleState,
    PlacementPlugin,
    PluginArgs,
    PluginContext,
    PreFilterPlugin,
    QueuedJob,
    RunningJob,
)
from gputwin.scheduling.hooks import ObservesWorkload
from gputwin.scheduling.plugins.sharing import (
    BoolArray,
    GpuMirror,
    inventory_of,
    requests_of,
)
from gputwin.scheduling.status import SUCCESS, Status
from gputwin.workload.job import JobSpec


class SharedArgs(PluginArgs):
    """Which dimensions to model (each only where the node inventory has it)."""

    cpu: bool = Field(default=True, description="node CPU as a resource")
    memory: bool = Field(default=True, description="node host memory as a resource")
    gpu_types: bool = Field(default=True, description="enforce JobSpec.gpu_type")


class FgdArgs(SharedArgs):
    target: Literal["trace", "explicit"] = "trace"
    target_gpus: dict[float, float] = Field(
        default_factory=dict, description="explicit target workload {GPUs: weight}")
    cpu_classes: bool = Field(default=True, description="CPU in the target task classes")


class BestfitArgs(SharedArgs):
    gpu_weight: float = Field(default=1.0, ge=0)
    cpu_weight: float = Field(default=1.0, ge=0)


class SharedGpuPlacement(PlacementPlugin, ObservesWorkload):
    """Common machinery: the mirror, masks, hooks; subclasses rank nodes."""

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, SharedArgs)
        self.sargs = args
        self.mirror = GpuMirror(inventory_of(ctx.layout, ctx.gpu_type), use_cpu=args.cpu,
                                use_memory=args.memory)
        self.num_placed = 0

    # hooks ----------------------------------------------------------------------------------

    def observe_workload(self, jobs: Sequence[JobSpec]) -> None:
        """The run's jobs, before it starts: the target workload of FGD's fragmentation
        measure. Here it only *measures* (see :meth:`fragmentation_sample`); FGD also
        places by it."""
        reqs = requests_of(jobs, self.mirror) if jobs else []
        if reqs:
            self.mirror.attach_index(TargetWorkload.from_requests(
                reqs, with_cpu=self.mirror.use_cpu))

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self.mirror.take(job.job_id, job.spec, job.placement)

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        self.mirror.give_back(job.job_id)

    # placement ------------------------------------------------------------------------------

    def allowed(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> BoolArray:
        """Nodes up, not masked by a filter plugin, of the right GPU type and memory."""
        mask: BoolArray = state.snapshot.health == 0
        mask = mask & ~((free == 0) & (state.free > 0))  # zeroed by a filter plugin
        if self.sargs.gpu_types:
            types = self.mirror.type_mask(job.spec.gpu_type)
            if types is not None:
                mask = mask & types
        mem = self.mirror.memory_mask(job.spec)
        return mask if mem is None else mask & mem

    def place(self, job: QueuedJob, state: CycleState, free: np.ndarray,
              scores: np.ndarray | None) -> Placement | None:
        spec = job.spec
        mask = self.allowed(job, state, free)
        if spec.num_gpus > int(self.mirror.num_gpus.max()):
            return self._gang(spec, mask, state)
        req = self.mirror.request(spec)
        choice = self.choose(req, mask)
        if choice is None:
            return None
        node, gpus = choice
        self.num_placed += 1
        layout = state.layout
        if req.is_fractional:
            return make_placement(layout, {}, (GpuShare(node, gpus[0], req.gpu_milli),))
        return make_placement(layout, {node: req.num_gpus})

    def place_host_only(self, pod_id: str, cpu_milli: float, memory_bytes: float) -> bool:
        """Place a CPU-only pod (no GPU) by this policy's node ranking, outside the ledger
        (which knows GPUs only): it takes CPU and memory in the mirror. ``False`` when no
        node has room. Used by the workload-inflation experiment."""
        m = self.mirror
        req = GpuRequest(0, MILLI_PER_GPU, cpu_milli if m.use_cpu else 0.0)
        mask = m.free_cpu >= req.cpu_milli
        if m.use_memory and memory_bytes:
            mask &= m.free_memory >= memory_bytes
        scores = np.where(mask, self.rank(req), np.inf)
        node = int(np.argmin(scores))
        if not np.isfinite(scores[node]):
            return False
        m.take_host(pod_id, node, req.cpu_milli, memory_bytes)
        return True

    def choose(self, req: GpuRequest, mask: BoolArray) -> tuple[int, tuple[int, ...]] | None:
        scores = self.rank(req)
        scores = np.where(mask, scores, np.inf)
        node = int(np.argmin(scores))
        if not np.isfinite(scores[node]):
            return None
        return node, choose_gpus(self.mirror.table.free[node], req)

    def rank(self, req: GpuRequest) -> np.ndarray:
        """Per node: lower = better, ``inf`` = does not fit."""
        raise NotImplementedError

    def _gang(self, spec: JobSpec, mask: BoolArray, state: CycleState) -> Placement | None:
        """A job wider than any node: whole idle nodes, widest first (then the node order)."""
        m = self.mirror
        idle = mask & (m.whole_free() == m.num_gpus) & (m.num_gpus > 0)
        if m.use_cpu:
            idle &= m.free_cpu >= m.cpu_capacity
        order = np.flatnonzero(idle)
        order = order[np.argsort(-m.num_gpus[order], kind="stable")]
        chosen: dict[int, int] = {}
        left = spec.num_gpus
        for node in order:
            if left <= 0:
                break
            take = min(left, int(m.num_gpus[node]))
            chosen[int(node)] = take
            left -= take
        if left > 0:
            return None
        return make_placement(state.layout, chosen)

    # metrics --------------------------------------------------------------------------------

    def unallocated_gpus(self) -> float:
        return self.mirror.unallocated_gpus()

    def fragmentation_sample(self) -> tuple[float, float, float] | None:
        """FGD's metrics now, w.r.t. the target workload: (expected fragmented GPUs,
        fragmentation rate = fragmented / unallocated, unallocated GPUs); ``None`` without
        a target workload (nothing observed)."""
        index = self.mirror.index
        if index is None:
            return None
        return (index.cluster_fragmentation_milli / MILLI_PER_GPU, index.fragmentation_rate,
                index.unallocated_milli / MILLI_PER_GPU)


class FgdPlacement(SharedGpuPlacement):
    """Fragmentation Gradient Descent (see the module doc)."""

    name = "placement/fgd"
    Args = FgdArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, FgdArgs)
        self.fargs = args
        if args.target == "explicit" or args.target_gpus:
            if not args.target_gpus:
                raise InputError("target: explicit needs target_gpus {GPUs: weight}")
            self.mirror.attach_index(TargetWorkload.from_gpus(args.target_gpus))

    def observe_workload(self, jobs: Sequence[JobSpec]) -> None:
        if self.fargs.target != "trace" or self.fargs.target_gpus or not jobs:
            return
        reqs = requests_of(jobs, self.mirror)
        if reqs:
            self.mirror.attach_index(TargetWorkload.from_requests(
                reqs, with_cpu=self.fargs.cpu_classes and self.mirror.use_cpu))

    def _index_for(self, req: GpuRequest) -> None:
        if self.mirror.index is None:  # nobody told us the workload: whole-GPU sizes
            widest = int(self.mirror.num_gpus.max())
            sizes = {float(k): 1.0 for k in (1, 2, 4, 8) if k <= widest}
            self.mirror.attach_index(TargetWorkload.from_gpus(sizes))

    def choose(self, req: GpuRequest, mask: BoolArray) -> tuple[int, tuple[int, ...]] | None:
        self._index_for(req)
        index = self.mirror.index
        assert index is not None
        return index.fgd_choose(req, mask)

    def rank(self, req: GpuRequest) -> np.ndarray:
        self._index_for(req)
        assert self.mirror.index is not None
        return self.mirror.index.fgd_delta(req)[0]

    def last_fragmentation(self) -> tuple[float, float] | None:
        """(cluster fragmentation in GPUs, fragmentation rate) w.r.t. the target workload."""
        index = self.mirror.index
        if index is None:
            return None
        return index.cluster_fragmentation_milli / MILLI_PER_GPU, index.fragmentation_rate


class BestfitPlacement(SharedGpuPlacement):
    """Best fit: least weighted GPU (+ CPU) share left on the node."""

    name = "placement/bestfit"
    Args = BestfitArgs

    def rank(self, req: GpuRequest) -> np.ndarray:
        m = self.mirror
        assert isinstance(self.args, BestfitArgs)
        cpu = m.free_cpu if m.use_cpu else None
        cap = m.cpu_capacity if m.use_cpu else None
        return bestfit_scores(m.table, req, cpu, cap, self.args.gpu_weight,
                              self.args.cpu_weight)


class GpuPackingPlacement(SharedGpuPlacement):
    """GPU packing: partly used GPU, then partly used node, then idle node."""

    name = "placement/gpu-packing"
    Args = SharedArgs

    def rank(self, req: GpuRequest) -> np.ndarray:
        m = self.mirror
        return gpu_packing_scores(m.table, req, m.free_cpu if m.use_cpu else None)


class FeasibleFilter(PreFilterPlugin):
    """Reject (the job fails) a job that fits no node even when the cluster is empty: no
    node of its ``gpu_type``, more GPUs than a node of that type has (single-node jobs of
    at most the widest node), or more CPU / memory than such a node has."""

    name = "pre-filter/feasible"
    Args = SharedArgs
    shape_only = True  # the verdict depends on the request shape alone

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, SharedArgs)
        self.sargs = args
        self.mirror = GpuMirror(inventory_of(ctx.layout, ctx.gpu_type), use_cpu=args.cpu,
                                use_memory=args.memory)
        self._seen: dict[tuple[int, str | None, float, float], str] = {}

    def pre_filter(self, job: QueuedJob, state: CycleState) -> Status:
        spec = job.spec
        key = (spec.num_gpus, spec.gpu_type, spec.num_cpus or 0.0, spec.memory_bytes or 0.0)
        reason = self._seen.get(key)
        if reason is None:
            reason = self._why_not(spec)
            self._seen[key] = reason
        return Status.reject(reason, self.name) if reason else SUCCESS

    def _why_not(self, spec: JobSpec) -> str:
        m = self.mirror
        nodes = m.num_gpus > 0
        if self.sargs.gpu_types:
            types = m.type_mask(spec.gpu_type)
            if types is not None:
                nodes &= types
                if not nodes.any():
                    return f"no node has GPU type {spec.gpu_type}"
        widest = int(m.num_gpus.max())
        if spec.num_gpus > widest:
            return ""  # a gang over whole nodes (checked when placed)
        nodes &= m.num_gpus >= spec.num_gpus
        if not nodes.any():
            return f"no node of the right type has {spec.num_gpus} GPUs"
        if m.use_cpu and spec.num_cpus and not (m.cpu_capacity[nodes] >= spec.num_cpus * 1000
                                                ).any():
            return f"no suitable node has {spec.num_cpus:g} CPUs"
        if m.use_memory and spec.memory_bytes and not (
                m.free_memory[nodes] >= spec.memory_bytes).any():
            return f"no suitable node has {spec.memory_bytes / 2**30:.1f} GiB of memory"
        return ""
