"""Static shape of a GPU cluster: nodes, leaves (leaf switches) and scale-up domains.

Nodes are numbered ``0 .. num_nodes-1``. Node ``n`` hangs off leaf ``n // nodes_per_leaf``
(the last leaf may be partly filled); a leaf switch is one rack (top-of-rack). Leaves are
grouped into pods of ``leaves_per_pod`` under one spine group (``0`` = a single pod: every
leaf reaches every other through the spine layer). A scale-up domain (NVLink island) holds
``scale_up_domain_size`` GPUs; when it is larger than a node (e.g. GB200 NVL72 with 4-GPU
trays) consecutive nodes share a domain, otherwise each node is its own domain.
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.errors import InputError

#: Topology levels, innermost first (see :meth:`ClusterLayout.level_ids`).
TOPOLOGY_LEVELS = ("node", "domain", "leaf", "pod", "cluster")


@dataclass(frozen=True, slots=True)
class ClusterLayout:
    """Counts only; no state. Raises :class:`InputError` for non-positive sizes."""

    num_nodes: int
    gpus_per_node: int
    nodes_per_leaf: int
    scale_up_domain_size: int = 0  # GPUs per scale-up domain; 0 = one node
    leaves_per_pod: int = 0  # leaves under one spine group; 0 = all leaves in one pod
    #: GPUs of each node when nodes differ (a mixed fleet of node shapes; ``gpus_per_node``
    #: is then the largest); empty = every node has ``gpus_per_node``
    node_gpus: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("num_nodes", "gpus_per_node", "nodes_per_leaf"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.node_gpus and (len(self.node_gpus) != self.num_nodes
                               or min(self.node_gpus) <= 0
                               or max(self.node_gpus) != self.gpus_per_node):
            raise InputError("node_gpus: one positive count per node, the largest being "
                             "gpus_per_node")

    @property
    def total_gpus(self) -> int:
        if self.node_gpus:
            return sum(self.node_gpus)
        return self.num_nodes * self.gpus_per_node

    def gpus_on(self, node: int) -> int:
        """GPUs of ``node``."""
        return self.node_gpus[node] if self.node_gpus else self.gpus_per_node

    @property
    def num_leaves(self) -> int:
        return -(-self.num_nodes // self.nodes_per_leaf)

    @property
    def nodes_per_domain(self) -> int:
        """Nodes sharing one scale-up domain (1 when the domain is a single node)."""
        return max(1, self.scale_up_domain_size // self.gpus_per_node)

    @property
    def num_pods(self) -> int:
        per = self.leaves_per_pod
        return 1 if per <= 0 else -(-self.num_leaves // per)

    def pod_of_leaf(self, leaf: int) -> int:
        return 0 if self.leaves_per_pod <= 0 else leaf // self.leaves_per_pod

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

    def num_pods_spanned(self, nodes: tuple[int, ...] | list[int]) -> int:
        return len({self.pod_of_leaf(n // self.nodes_per_leaf) for n in nodes})

    def level_ids(self, level: str) -> list[int]:
        """Group id of every node at a topology ``level``.

        Levels, innermost first: ``node``, ``domain`` (scale-up/NVLink), ``leaf`` (rack),
        ``pod`` (spine group), ``cluster``. Raises :class:`InputError` for other names.
        """
        n = self.num_nodes
        if level == "node":
            return list(range(n))
        if level == "domain":
            return [i // self.nodes_per_domain for i in range(n)]
        if level in ("leaf", "rack"):
            return [i // self.nodes_per_leaf for i in range(n)]
        if level in ("pod", "spine"):
            return [self.pod_of_leaf(i // self.nodes_per_leaf) for i in range(n)]
        if level == "cluster":
            return [0] * n
        raise InputError(f"unknown topology level {level!r}; expected one of {TOPOLOGY_LEVELS}")
