"""The allocation ledger: which job holds which GPUs (whole, fractional or MIG) of which node.

The ledger is the only thing that mutates cluster state (Kueue's lesson: a scheduling cycle
decides against a read-only :class:`~gputwin.cluster.snapshot.ClusterSnapshot` and applies
its decisions here). It never over-allocates: asking for more than a node has free,
allocating a job twice, releasing an unknown job, overlapping MIG slices or more than
1000 milli-GPU on one GPU raise :class:`LedgerError` (a scheduler bug, not user input) and
leave the ledger unchanged.

Capacity model per node: ``gpus_per_node`` GPUs (``layout.node_gpus`` when nodes
differ). Whole-GPU allocations are anonymous counts. A GPU that carries fractional shares
(``milli`` of 1000) or MIG slices is *partial*: it is taken out of the whole-GPU pool
when its first share lands and returned when its last share leaves. A partial GPU is
either in milli mode or in MIG mode, never both. Node health (up / draining / down) does
not change allocations; the snapshot offers free capacity only on ``up`` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.sharing import MILLI_PER_GPU
from gputwin.errors import GputwinError

NodeHealth = Literal["up", "draining", "down"]
HEALTH_CODES: dict[str, int] = {"up": 0, "draining": 1, "down": 2}
__all__ = ["HEALTH_CODES", "MILLI_PER_GPU", "GpuShare", "Ledger", "LedgerError", "NodeHealth",
           "Placement", "make_placement"]


class LedgerError(GputwinError):
    """An impossible allocation or release (scheduler bug)."""


@dataclass(frozen=True, slots=True)
class GpuShare:
    """Part of one GPU: ``milli`` thousandths of GPU ``gpu`` on ``node`` (fractional
    sharing), or a MIG slice ``[mig_start, mig_start + mig_size)`` in memory-slice units
    (``mig_size > 0``; ``milli`` then records the slice's share of compute for accounting)."""

    node: int
    gpu: int
    milli: int
    mig_start: int = -1
    mig_size: int = 0

    @property
    def is_mig(self) -> bool:
        return self.mig_size > 0


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a gang runs: ``gpus[i]`` whole GPUs on node ``nodes[i]`` (nodes ascending,
    unique), plus optional partial-GPU ``shares`` (fractional / MIG)."""

    nodes: tuple[int, ...]
    gpus: tuple[int, ...]
    num_leaves: int
    num_domains: int
    shares: tuple[GpuShare, ...] = ()

    @property
    def num_gpus(self) -> int:
        """Whole GPUs held (shares not counted)."""
        return sum(self.gpus)

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @property
    def gpu_milli(self) -> int:
        """Total GPU capacity held in thousandths (whole GPUs count 1000 each)."""
        return MILLI_PER_GPU * self.num_gpus + sum(s.milli for s in self.shares)

    @property
    def gpu_equivalents(self) -> float:
        """GPUs held, shares counted by their part: ``gpu_milli / 1000`` for a fractional
        share, compute slices / compute slices of the GPU for a MIG slice (recorded as milli
        by the MIG plugin, so to 0.0005 GPU). An ``int`` for whole-GPU placements."""
        if not self.shares:
            return self.num_gpus
        return self.num_gpus + sum(s.milli for s in self.shares) / MILLI_PER_GPU


def make_placement(
    layout: ClusterLayout, per_node: dict[int, int], shares: tuple[GpuShare, ...] = ()
) -> Placement:
    """Build a :class:`Placement` from ``{node: num_gpus}`` (zero entries dropped)."""
    nodes = tuple(sorted(n for n, g in per_node.items() if g > 0))
    touched = sorted(set(nodes) | {s.node for s in shares})
    return Placement(
        nodes=nodes,
        gpus=tuple(per_node[n] for n in nodes),
        num_leaves=layout.num_leaves_spanned(touched),
        num_domains=layout.num_domains_spanned(touched),
        shares=shares,
    )


class Ledger:
    """Free whole GPUs per node (numpy), partial-GPU shares and running placements."""

    __slots__ = ("_allocations", "_free", "_free_total", "_health", "_mig", "_milli",
                 "_share_milli", "layout", "version")

    def __init__(self, layout: ClusterLayout) -> None:
        self.layout = layout
        self._free = (np.asarray(layout.node_gpus, dtype=np.int64) if layout.node_gpus
                      else np.full(layout.num_nodes, layout.gpus_per_node, dtype=np.int64))
        self._free_total = layout.total_gpus
        self._health = np.zeros(layout.num_nodes, dtype=np.int8)
        self._allocations: dict[str, Placement] = {}
        self._milli: dict[tuple[int, int], int] = {}  # (node, gpu) -> milli used
        self._mig: dict[tuple[int, int], list[tuple[int, int]]] = {}  # -> [(start, size)]
        self._share_milli = 0  # milli of every share held (fractional and MIG)
        self.version = 0  # bumped on every change (snapshots record it)

    # -- reads ------------------------------------------------------------------------------

    @property
    def free_total(self) -> int:
        """Free whole GPUs on every node, whatever its health."""
        return self._free_total

    @property
    def allocated_total(self) -> int:
        """GPUs not in the whole-GPU free pool (whole allocations + partial GPUs)."""
        return self.layout.total_gpus - self._free_total

    @property
    def allocated_gpus(self) -> float:
        """GPUs allocated with partial GPUs counted by their shares (see
        :attr:`Placement.gpu_equivalents`); an ``int`` when no GPU is partial."""
        whole = self.layout.total_gpus - self._free_total
        if not self._share_milli:
            return whole
        partial = len(self._milli) + len(self._mig)
        return whole - partial + self._share_milli / MILLI_PER_GPU

    def free_on(self, node: int) -> int:
        return int(self._free[node])

    def free_per_node(self) -> tuple[int, ...]:
        """A copy of the free whole GPUs of every node."""
        return tuple(int(x) for x in self._free)

    def free_array(self) -> np.ndarray:
        """A copy (numpy int64) of the free whole GPUs of every node."""
        return self._free.copy()

    def health_codes(self) -> np.ndarray:
        """A copy of node health codes (0 up, 1 draining, 2 down)."""
        return self._health.copy()

    def health_of(self, node: int) -> NodeHealth:
        names: tuple[NodeHealth, ...] = ("up", "draining", "down")
        return names[int(self._health[node])]

    def milli_used(self) -> dict[tuple[int, int], int]:
        """A copy of ``{(node, gpu): milli used}`` for GPUs in fractional mode."""
        return dict(self._milli)

    def mig_slices(self) -> dict[tuple[int, int], tuple[tuple[int, int], ...]]:
        """A copy of ``{(node, gpu): ((start, size), ...)}`` for GPUs in MIG mode."""
        return {k: tuple(v) for k, v in self._mig.items()}

    def placement_of(self, job_id: str) -> Placement | None:
        return self._allocations.get(job_id)

    def jobs(self) -> list[str]:
        return list(self._allocations)

    def jobs_on(self, node: int) -> list[str]:
        """Jobs holding anything on ``node`` (linear scan; for failures and draining)."""
        return [j for j, p in self._allocations.items()
                if node in p.nodes or any(s.node == node for s in p.shares)]

    # -- writes -----------------------------------------------------------------------------

    def set_health(self, node: int, health: NodeHealth) -> None:
        """Mark ``node`` up, draining (runs what it has, takes nothing new) or down."""
        if not 0 <= node < self.layout.num_nodes:
            raise LedgerError(f"no node {node}")
        self._health[node] = HEALTH_CODES[health]
        self.version += 1

    def allocate(self, job_id: str, placement: Placement) -> None:
        """Take ``placement``'s GPUs and shares for ``job_id``; all or nothing."""
        if job_id in self._allocations:
            raise LedgerError(f"job {job_id!r} already holds GPUs")
        free = self._free
        num_nodes = len(free)
        if len(set(placement.nodes)) != len(placement.nodes):
            raise LedgerError(f"job {job_id!r}: placement repeats a node")
        for node, count in zip(placement.nodes, placement.gpus, strict=True):
            if not 0 <= node < num_nodes:
                raise LedgerError(f"job {job_id!r}: no node {node}")
            if count <= 0 or count > free[node]:
                raise LedgerError(
                    f"job {job_id!r}: wants {count} GPUs on node {node}, {int(free[node])} free"
                )
        opened = self._check_shares(job_id, placement) if placement.shares else {}
        for node, count in zip(placement.nodes, placement.gpus, strict=True):
            free[node] -= count
        self._free_total -= placement.num_gpus
        for node, count in opened.items():
            free[node] -= count
            self._free_total -= count
        for share in placement.shares:
            key = (share.node, share.gpu)
            if share.is_mig:
                self._mig.setdefault(key, []).append((share.mig_start, share.mig_size))
            else:
                self._milli[key] = self._milli.get(key, 0) + share.milli
            self._share_milli += share.milli
        self._allocations[job_id] = placement
        self.version += 1

    def release(self, job_id: str) -> Placement:
        """Give back every GPU and share of ``job_id``; returns its placement."""
        placement = self._allocations.pop(job_id, None)
        if placement is None:
            raise LedgerError(f"job {job_id!r} holds no GPUs")
        layout = self.layout
        for node, count in zip(placement.nodes, placement.gpus, strict=True):
            self._free[node] += count
        self._free_total += placement.num_gpus
        for share in placement.shares:
            key = (share.node, share.gpu)
            self._share_milli -= share.milli
            if share.is_mig:
                slices = self._mig[key]
                slices.remove((share.mig_start, share.mig_size))
                empty = not slices
                if empty:
                    del self._mig[key]
            else:
                left = self._milli[key] - share.milli
                empty = left == 0
                if empty:
                    del self._milli[key]
                else:
                    self._milli[key] = left
            if empty:  # the GPU returns to the whole-GPU pool
                self._free[share.node] += 1
                self._free_total += 1
        for node in {*placement.nodes, *(s.node for s in placement.shares)}:
            assert self._free[node] <= layout.gpus_on(node), (
                "ledger corrupted: more free GPUs than a node has")
        self.version += 1
        return placement

    def _check_shares(self, job_id: str, placement: Placement) -> dict[int, int]:
        """Validate shares; return ``{node: GPUs newly taken from the whole pool}``."""
        milli = dict(self._milli)
        mig = {k: list(v) for k, v in self._mig.items()}
        opened: dict[int, int] = {}
        whole = dict(zip(placement.nodes, placement.gpus, strict=True))
        for s in placement.shares:
            key = (s.node, s.gpu)
            on_node = self.layout.gpus_on(s.node) if 0 <= s.node < self.layout.num_nodes else 0
            if not 0 <= s.gpu < on_node:
                raise LedgerError(f"job {job_id!r}: no GPU {s.gpu} on node {s.node}")
            if key not in milli and key not in mig:
                opened[s.node] = opened.get(s.node, 0) + 1
                if opened[s.node] + whole.get(s.node, 0) > self._free[s.node]:
                    raise LedgerError(f"job {job_id!r}: no free GPU on node {s.node} to share")
            if s.is_mig:
                if key in milli:
                    raise LedgerError(f"job {job_id!r}: GPU {key} is shared, not in MIG mode")
                taken = mig.setdefault(key, [])
                end = s.mig_start + s.mig_size
                if s.mig_start < 0 or any(a < end and s.mig_start < a + b for a, b in taken):
                    raise LedgerError(f"job {job_id!r}: MIG slice overlaps on GPU {key}")
                taken.append((s.mig_start, s.mig_size))
            else:
                if key in mig:
                    raise LedgerError(f"job {job_id!r}: GPU {key} is in MIG mode")
                used = milli.get(key, 0) + s.milli
                if s.milli <= 0 or used > MILLI_PER_GPU:
                    raise LedgerError(f"job {job_id!r}: GPU {key} would hold {used} milli")
                milli[key] = used
        return opened
