"""The allocation ledger: which job holds how many whole GPUs of which node.

The ledger is the only thing that mutates cluster state. It never over-allocates: asking
for more GPUs than a node has free, allocating a job twice or releasing an unknown job
raises :class:`LedgerError` (a bug in the scheduler, not user input), and the ledger is
left unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.cluster.layout import ClusterLayout
from gputwin.errors import GputwinError


class LedgerError(GputwinError):
    """An impossible allocation or release (scheduler bug)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a gang runs: ``gpus[i]`` GPUs on node ``nodes[i]`` (nodes ascending, unique)."""

    nodes: tuple[int, ...]
    gpus: tuple[int, ...]
    num_leaves: int
    num_domains: int

    @property
    def num_gpus(self) -> int:
        return sum(self.gpus)

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)


def make_placement(layout: ClusterLayout, per_node: dict[int, int]) -> Placement:
    """Build a :class:`Placement` from ``{node: num_gpus}`` (zero entries dropped)."""
    nodes = tuple(sorted(n for n, g in per_node.items() if g > 0))
    return Placement(
        nodes=nodes,
        gpus=tuple(per_node[n] for n in nodes),
        num_leaves=layout.num_leaves_spanned(nodes),
        num_domains=layout.num_domains_spanned(nodes),
    )


class Ledger:
    """Free-GPU counts per node and the placements of running jobs."""

    __slots__ = ("_allocations", "_free", "_free_total", "layout")

    def __init__(self, layout: ClusterLayout) -> None:
        self.layout = layout
        self._free = [layout.gpus_per_node] * layout.num_nodes
        self._free_total = layout.total_gpus
        self._allocations: dict[str, Placement] = {}

    # -- reads ------------------------------------------------------------------------------

    @property
    def free_total(self) -> int:
        return self._free_total

    @property
    def allocated_total(self) -> int:
        return self.layout.total_gpus - self._free_total

    def free_on(self, node: int) -> int:
        return self._free[node]

    def free_per_node(self) -> tuple[int, ...]:
        """A snapshot (copy) of the free GPUs of every node."""
        return tuple(self._free)

    def placement_of(self, job_id: str) -> Placement | None:
        return self._allocations.get(job_id)

    def jobs(self) -> list[str]:
        return list(self._allocations)

    # -- writes -----------------------------------------------------------------------------

    def allocate(self, job_id: str, placement: Placement) -> None:
        """Take ``placement``'s GPUs for ``job_id``; all or nothing."""
        if job_id in self._allocations:
            raise LedgerError(f"job {job_id!r} already holds GPUs")
        free = self._free
        for node, count in zip(placement.nodes, placement.gpus, strict=True):
            if not 0 <= node < len(free):
                raise LedgerError(f"job {job_id!r}: no node {node}")
            if count <= 0 or count > free[node]:
                raise LedgerError(
                    f"job {job_id!r}: wants {count} GPUs on node {node}, {free[node]} free"
                )
        if len(set(placement.nodes)) != len(placement.nodes):
            raise LedgerError(f"job {job_id!r}: placement repeats a node")
        for node, count in zip(placement.nodes, placement.gpus, strict=True):
            free[node] -= count
        self._free_total -= placement.num_gpus
        self._allocations[job_id] = placement

    def release(self, job_id: str) -> Placement:
        """Give back every GPU of ``job_id``; returns its placement."""
        placement = self._allocations.pop(job_id, None)
        if placement is None:
            raise LedgerError(f"job {job_id!r} holds no GPUs")
        cap = self.layout.gpus_per_node
        for node, count in zip(placement.nodes, placement.gpus, strict=True):
            self._free[node] += count
            assert self._free[node] <= cap, "ledger corrupted: more free GPUs than a node has"
        self._free_total += placement.num_gpus
        return placement
