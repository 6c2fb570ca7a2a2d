"""Cluster state: layout (nodes, leaves, pods, scale-up domains), the allocation ledger and
the per-cycle read-only snapshot."""

from gputwin.cluster.layout import TOPOLOGY_LEVELS, ClusterLayout
from gputwin.cluster.ledger import (
    MILLI_PER_GPU,
    GpuShare,
    Ledger,
    LedgerError,
    NodeHealth,
    Placement,
    make_placement,
)
from gputwin.cluster.snapshot import ClusterSnapshot, snapshot_from_free, take_snapshot

__all__ = [
    "MILLI_PER_GPU",
    "TOPOLOGY_LEVELS",
    "ClusterLayout",
    "ClusterSnapshot",
    "GpuShare",
    "Ledger",
    "LedgerError",
    "NodeHealth",
    "Placement",
    "make_placement",
    "snapshot_from_free",
    "take_snapshot",
]
