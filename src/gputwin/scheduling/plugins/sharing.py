"""Per-GPU state for the fractional and MIG plugins: node inventory, a mirror of the ledger
in milli-GPU, and the time-slicing slowdown of shared GPUs.

The framework's snapshot counts free *whole* GPUs per node on a uniform layout. Placing
fractional pods on a heterogeneous cluster (Alibaba openb: 2/4/8-GPU nodes of eight GPU
models, CPU and memory per node) needs more, so these plugins keep:

- :class:`NodeInventory`: GPUs, GPU model, CPU (milli) and memory (bytes) of every node.
  It rides on the layout as :class:`InventoryLayout` (a :class:`ClusterLayout` whose
  ``gpus_per_node`` is the widest node and whose ``total_gpus`` is the real GPU count);
  a plain layout gives a uniform inventory (``gpus_per_node`` GPUs of ``ctx.gpu_type``,
  CPU and memory not modelled).
- :class:`GpuMirror`: free milli per GPU (:class:`~gputwin.cluster.sharing.FreeMilli`),
  free CPU and memory, and which GPU indices each running job holds. It is updated by the
  plugins' ``on_start``/``on_stop`` hooks (a migration by ``post-filter/defragment`` calls
  both through ``on_migrate``), so it stays equal to the ledger.

On an :class:`InventoryLayout` the ledger believes every node has ``gpus_per_node`` GPUs;
the slots a node does not have are never offered by these plugins, and ``total_gpus``
(utilisation, the summary) counts only real GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gputwin.cluster.fragmentation import FragmentationIndex, TargetWorkload
from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.cluster.sharing import MILLI_PER_GPU, FreeMilli, GpuRequest, TimeSliceModel
from gputwin.errors import InputError
from gputwin.workload.job import JobSpec

INF = float("inf")
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class NodeInventory:
    """Per node: GPUs, GPU model ("" = unknown), CPU milli and memory bytes (``inf`` =
    not modelled). Raises :class:`InputError` on ragged or negative input."""

    gpus: tuple[int, ...]
    models: tuple[str, ...]
    cpu_milli: tuple[float, ...]
    memory_bytes: tuple[float, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.gpus)
        if n == 0:
            raise InputError("node inventory: no nodes")
        if any(len(x) != n for x in (self.models, self.cpu_milli, self.memory_bytes)):
            raise InputError("node inventory: columns of different lengths")
        if min(self.gpus) < 0 or max(self.gpus) <= 0:
            raise InputError("node inventory: GPU counts must be >= 0 with at least one GPU")

    @property
    def num_nodes(self) -> int:
        return len(self.gpus)

    @classmethod
    def uniform(cls, num_nodes: int, gpus_per_node: int, model: str = "") -> NodeInventory:
        return cls((gpus_per_node,) * num_nodes, (model,) * num_nodes, (INF,) * num_nodes,
                   (INF,) * num_nodes)


@dataclass(frozen=True, slots=True)
class InventoryLayout(ClusterLayout):
    """A layout whose nodes differ (see the module doc); ``total_gpus`` = real GPUs."""

    inventory: NodeInventory | None = None

    @property
    def total_gpus(self) -> int:
        inv = self.inventory
        return sum(inv.gpus) if inv is not None else self.num_nodes * self.gpus_per_node


def inventory_layout(inventory: NodeInventory, *, nodes_per_leaf: int,
                     leaves_per_pod: int = 0) -> InventoryLayout:
    """The layout of a heterogeneous cluster (scale-up domain = one node)."""
    return InventoryLayout(num_nodes=inventory.num_nodes, gpus_per_node=max(inventory.gpus),
                           nodes_per_leaf=nodes_per_leaf, leaves_per_pod=leaves_per_pod,
                           inventory=inventory)


def inventory_of(layout: ClusterLayout, gpu_type: str = "") -> NodeInventory:
    """The layout's inventory, or a uniform one (every node ``gpu_type``)."""
    if isinstance(layout, InventoryLayout) and layout.inventory is not None:
        return layout.inventory
    return NodeInventory.uniform(layout.num_nodes, layout.gpus_per_node, gpu_type)


@dataclass(frozen=True, slots=True)
class Held:
    """What one job holds on one node in the mirror."""

    node: int
    gpus: tuple[int, ...]
    milli: int
    cpu_milli: float
    memory_bytes: float


class GpuMirror:
    """Free milli per GPU, free CPU/memory per node, and what each job holds.

    ``use_cpu``/``use_memory``: model those dimensions (only where the inventory has them).
    ``index``: an optional :class:`FragmentationIndex`, kept current on every change.
    """

    def __init__(self, inventory: NodeInventory, *, use_cpu: bool = True,
                 use_memory: bool = True) -> None:
        self.inventory = inventory
        self.table = FreeMilli(inventory.gpus)
        self.num_gpus = np.asarray(inventory.gpus, dtype=np.int64)
        cpu = np.asarray(inventory.cpu_milli, dtype=np.float64)
        mem = np.asarray(inventory.memory_bytes, dtype=np.float64)
        self.use_cpu = use_cpu and bool(np.isfinite(cpu).any())
        self.use_memory = use_memory and bool(np.isfinite(mem).any())
        self.cpu_capacity = cpu if self.use_cpu else np.full(len(cpu), INF)
        self.free_cpu = self.cpu_capacity.copy()
        self.free_memory = mem.copy() if self.use_memory else np.full(len(mem), INF)
        self.models = tuple(m.lower() for m in inventory.models)
        self.held: dict[str, list[Held]] = {}
        self.index: FragmentationIndex | None = None
        self._type_masks: dict[str, BoolArray] = {}

    # -- requests and masks -------------------------------------------------------------------

    def request(self, spec: JobSpec, num_gpus: int | None = None) -> GpuRequest:
        """The job's per-node request (CPU in milli when modelled)."""
        cpu = (spec.num_cpus or 0.0) * 1000.0 if self.use_cpu else 0.0
        return GpuRequest(spec.num_gpus if num_gpus is None else num_gpus, spec.gpu_milli, cpu)

    def type_mask(self, gpu_type: str | None) -> BoolArray | None:
        """Nodes whose GPU model is one of ``gpu_type`` ("A|B", case-insensitive);
        ``None`` when there is no constraint."""
        if not gpu_type:
            return None
        mask = self._type_masks.get(gpu_type)
        if mask is None:
            wanted = {t.strip().lower() for t in gpu_type.split("|") if t.strip()}
            mask = np.array([m in wanted for m in self.models], dtype=bool)
            self._type_masks[gpu_type] = mask
        return mask

    def memory_mask(self, spec: JobSpec) -> BoolArray | None:
        if not self.use_memory or not spec.memory_bytes:
            return None
        return self.free_memory >= spec.memory_bytes

    def whole_free(self) -> npt.NDArray[np.int64]:
        """Fully free GPUs per node."""
        return (self.table.free >= MILLI_PER_GPU).sum(axis=1)  # type: ignore[no-any-return]

    # -- changes ------------------------------------------------------------------------------

    def attach_index(self, workload: TargetWorkload) -> FragmentationIndex:
        cpu = self.free_cpu if self.use_cpu else None
        self.index = FragmentationIndex(self.table, workload, cpu)
        return self.index

    def take(self, job_id: str, spec: JobSpec, placement: Placement) -> None:
        """Record ``placement`` (whole GPUs take each node's lowest fully free GPUs)."""
        if job_id in self.held:
            return
        items: list[Held] = []
        cpu_total = (spec.num_cpus or 0.0) * 1000.0 if self.use_cpu else 0.0
        mem_total = (spec.memory_bytes or 0.0) if self.use_memory else 0.0
        parts: list[tuple[int, tuple[int, ...] | int, int]] = [
            (s.node, (s.gpu,), s.milli) for s in placement.shares if not s.is_mig]
        parts += [(n, c, MILLI_PER_GPU) for n, c in zip(placement.nodes, placement.gpus,
                                                         strict=True)]
        weight = sum((g if isinstance(g, int) else len(g)) * m for _, g, m in parts) or 1
        for node, which, milli in parts:
            if isinstance(which, int):  # whole GPUs: the lowest fully free ones, now
                full = np.flatnonzero(self.table.free[node] >= MILLI_PER_GPU)[:which]
                which = tuple(int(g) for g in full)
            gpus = which
            share = len(gpus) * milli / weight
            held = Held(node, gpus, milli, cpu_total * share, mem_total * share)
            if gpus:
                self.table.allocate(node, gpus, milli)
            self.free_cpu[node] -= held.cpu_milli
            self.free_memory[node] -= held.memory_bytes
            items.append(held)
            self._touch(node)
        self.held[job_id] = items

    def take_host(self, job_id: str, node: int, cpu_milli: float, memory_bytes: float) -> None:
        """A CPU-only pod on ``node``: CPU and memory, no GPU (the inflation experiment)."""
        cpu = cpu_milli if self.use_cpu else 0.0
        mem = memory_bytes if self.use_memory else 0.0
        self.free_cpu[node] -= cpu
        self.free_memory[node] -= mem
        self.held[job_id] = [Held(node, (), MILLI_PER_GPU, cpu, mem)]
        self._touch(node)

    def give_back(self, job_id: str) -> None:
        for held in self.held.pop(job_id, ()):
            if held.gpus:
                self.table.release(held.node, held.gpus, held.milli)
            self.free_cpu[held.node] += held.cpu_milli
            self.free_memory[held.node] += held.memory_bytes
            self._touch(held.node)

    def _touch(self, node: int) -> None:
        if self.index is not None:
            cpu = float(self.free_cpu[node]) if self.use_cpu else None
            self.index.update_node(node, self.table.free[node], cpu)

    # -- metrics ------------------------------------------------------------------------------

    def unallocated_gpus(self) -> float:
        """Free GPU capacity (Σ free milli / 1000)."""
        return self.table.unallocated_gpus()

    def co_located(self, node: int, gpu: int) -> list[tuple[str, int]]:
        """``(job_id, milli)`` of the jobs sharing GPU ``gpu`` of ``node`` (linear scan)."""
        return [(j, h.milli) for j, items in self.held.items() for h in items
                if h.node == node and gpu in h.gpus and h.milli < MILLI_PER_GPU]


def time_slice_rates(mirror: GpuMirror, model: TimeSliceModel) -> dict[str, float]:
    """Progress rate (≤ 1, relative to running alone with its share) of every job that
    time-shares a GPU, by :class:`TimeSliceModel` (``interference_frac`` per co-runner).
    A job spanning several shared GPUs progresses at its slowest GPU's rate."""
    per_gpu: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for job_id, items in mirror.held.items():
        for h in items:
            if h.milli < MILLI_PER_GPU:
                for g in h.gpus:
                    per_gpu.setdefault((h.node, g), []).append((job_id, h.milli))
    rates: dict[str, float] = {}
    for jobs in per_gpu.values():
        r = model.rates([m for _, m in jobs])
        for (job_id, _), rate in zip(jobs, r, strict=True):
            rates[job_id] = min(rates.get(job_id, 1.0), float(rate))
    return rates


def requests_of(jobs: Sequence[JobSpec], mirror: GpuMirror) -> list[GpuRequest]:
    """Per-node requests of ``jobs`` for a target workload (jobs wider than the widest
    node are left out: they take whole nodes)."""
    widest = int(mirror.num_gpus.max())
    return [mirror.request(j) for j in jobs if j.num_gpus <= widest]
