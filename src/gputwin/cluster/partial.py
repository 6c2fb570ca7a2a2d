"""Partial GPUs during one scheduling cycle: which GPUs carry fractional shares or busy MIG
slices, and how much room they have left.

The snapshot's ``free`` vector counts whole free GPUs per node; a GPU that carries shares
is out of that pool (see :mod:`gputwin.cluster.ledger`). A cycle that places fractional or
MIG jobs needs to know more: whether a new share lands on an already partial GPU (the
whole pool does not change) or opens a whole GPU (it does), and whether a request that
finds no whole GPU could still use a partial one. :class:`PartialGpus` is that scratch
view, built from a snapshot's ``milli_used`` / ``mig_slices`` (cost proportional to the
number of partial GPUs) and updated by the scheduler as the cycle decides.

Units: fractional shares in milli-GPU (1000 = one GPU); MIG slices as bitmasks of memory
slices (bit ``i`` = memory slice ``i``), as in :mod:`gputwin.cluster.mig`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gputwin.cluster.ledger import GpuShare
from gputwin.cluster.sharing import MILLI_PER_GPU
from gputwin.cluster.snapshot import ClusterSnapshot


def slice_mask(start: int, size: int) -> int:
    """Bitmask of memory slices ``[start, start + size)``."""
    return ((1 << size) - 1) << start


class PartialGpus:
    """Milli used per fractional GPU and busy memory-slice mask per MIG GPU (mutable
    scratch; the snapshot it came from is not touched). Only GPUs of ``up`` nodes offer
    room."""

    __slots__ = ("_up", "mig", "milli")

    def __init__(self, snapshot: ClusterSnapshot) -> None:
        self.milli: dict[tuple[int, int], int] = dict(snapshot.milli_used)
        self.mig: dict[tuple[int, int], int] = {}
        for key, slices in snapshot.mig_slices.items():
            mask = 0
            for start, size in slices:
                mask |= slice_mask(start, size)
            self.mig[key] = mask
        self._up: np.ndarray = snapshot.health == 0

    def take(self, share: GpuShare) -> bool:
        """Record ``share``; True when it opens a GPU that was whole and free."""
        key = (share.node, share.gpu)
        if share.is_mig:
            opened = key not in self.mig and key not in self.milli
            self.mig[key] = self.mig.get(key, 0) | slice_mask(share.mig_start, share.mig_size)
            return opened
        opened = key not in self.milli and key not in self.mig
        self.milli[key] = self.milli.get(key, 0) + share.milli
        return opened

    def give(self, share: GpuShare) -> bool:
        """Forget ``share``; True when its GPU is now empty (back to the whole pool)."""
        key = (share.node, share.gpu)
        if share.is_mig:
            mask = self.mig.get(key, 0) & ~slice_mask(share.mig_start, share.mig_size)
            if mask:
                self.mig[key] = mask
                return False
            self.mig.pop(key, None)
            return True
        left = self.milli.get(key, 0) - share.milli
        if left > 0:
            self.milli[key] = left
            return False
        self.milli.pop(key, None)
        return True

    def milli_room(self, milli: int) -> bool:
        """Some fractional GPU of an up node has at least ``milli`` free."""
        up = self._up
        limit = MILLI_PER_GPU - milli
        return any(used <= limit and up[node] for (node, _), used in self.milli.items())

    def mig_room(self, placements: Iterable[int]) -> bool:
        """Some MIG GPU of an up node has the memory slices of one of ``placements``
        (memory bitmasks of a profile's valid positions) free."""
        masks = tuple(placements)
        up = self._up
        return any(up[node] and any(not (m & busy) for m in masks)
                   for (node, _), busy in self.mig.items())

    @property
    def num_partial(self) -> int:
        """GPUs carrying shares or busy MIG slices."""
        return len(self.milli) + len(self.mig)
