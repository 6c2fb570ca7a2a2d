"""A cheap, read-only view of the cluster for one scheduling cycle.

Taken from the :class:`~gputwin.cluster.ledger.Ledger` at the start of a cycle; plugins
decide against it and never mutate it (the arrays are flagged read-only). Cost: one numpy
copy of the free-GPU vector (a few microseconds for thousands of nodes); the partial-GPU
maps are copied only when some GPU is shared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Ledger


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """Free capacity at one instant.

    ``free``: whole GPUs offered per node (0 on draining/down nodes); ``health``: codes
    (0 up, 1 draining, 2 down); ``milli_used`` / ``mig_slices``: partial GPUs (see the
    ledger); ``free_total`` = ``free.sum()``; ``version``: the ledger version it came from.
    """

    layout: ClusterLayout
    free: np.ndarray
    health: np.ndarray
    free_total: int
    milli_used: dict[tuple[int, int], int]
    mig_slices: dict[tuple[int, int], tuple[tuple[int, int], ...]]
    version: int

    @property
    def up(self) -> np.ndarray:
        """Boolean mask of nodes that accept new work."""
        return self.health == 0  # type: ignore[no-any-return]


def take_snapshot(ledger: Ledger) -> ClusterSnapshot:
    """Snapshot of ``ledger`` for one scheduling cycle (read-only arrays)."""
    free = ledger.free_array()
    health = ledger.health_codes()
    if health.any():
        free[health != 0] = 0
    free.flags.writeable = False
    health.flags.writeable = False
    return ClusterSnapshot(
        layout=ledger.layout, free=free, health=health, free_total=int(free.sum()),
        milli_used=ledger.milli_used(), mig_slices=ledger.mig_slices(),
        version=ledger.version,
    )


def snapshot_from_free(layout: ClusterLayout, free: list[int] | tuple[int, ...]) -> ClusterSnapshot:
    """A snapshot from plain free counts (tests, what-if tools); every node up."""
    arr = np.asarray(free, dtype=np.int64).copy()
    health = np.zeros(layout.num_nodes, dtype=np.int8)
    arr.flags.writeable = False
    health.flags.writeable = False
    return ClusterSnapshot(layout=layout, free=arr, health=health, free_total=int(arr.sum()),
                           milli_used={}, mig_slices={}, version=0)
