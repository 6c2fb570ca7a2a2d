"""Static shape of a GPU cluster: nodes, leaves (leaf switches) and scale-up domains.

Nodes are numbered ``0 .. num_nodes-1``. Node ``n`` hangs off leaf ``n // nodes_per_leaf``
(the last leaf may be partly filled). A scale-up domain (NVLink island) holds
``scale_up_domain_size`` GPUs; when it is larger than a node (e.g. GB200 NVL72 with 4-GPU
trays) consecutive nodes share a domain, otherwise each node is its own domain.
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.errors import InputError


@dataclass(frozen=True, slots=True)
class ClusterLayout:
    """Counts only; no state. Raises :class:`InputError` for non-positive sizes."""

    num_nodes: int
    gpus_per_node: int
    nodes_per_leaf: int
    scale_up_domain_size: int = 0  # GPUs per scale-up domain; 0 = one node

    def __post_init__(self) -> None:
        for name in ("num_nodes", "gpus_per_node", "nodes_per_leaf"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def total_gpus(self) -> int:
        return self.num_nodes * self.gpus_per_node

    @property
    def num_leaves(self) -> int:
        return -(-self.num_nodes // self.nodes_per_leaf)

    @property
    def nodes_per_domain(self) -> int:
        """Nodes sharing one scale-up domain (1 when the domain is a single node)."""
        return max(1, self.scale_up_domain_size // self.gpus_per_node)

    def leaf_of(self, node: int) -> int:
        return node // self.nodes_per_leaf

    def domain_of(self, node: int) -> int:
        return node // self.nodes_per_domain

    def leaf_nodes(self, leaf: int) -> range:
        """Node ids under ``leaf``."""
        start = leaf * self.nodes_per_leaf
        return range(start, min(start + self.nodes_per_leaf, self.num_nodes))

    def num_leaves_spanned(self, nodes: tuple[int, ...] | list[int]) -> int:
        return len({n // self.nodes_per_leaf for n in nodes})

    def num_domains_spanned(self, nodes: tuple[int, ...] | list[int]) -> int:
        per = self.nodes_per_domain
        return len({n // per for n in nodes})
