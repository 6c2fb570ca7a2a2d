"""Fractional GPU sharing: milli-GPU requests, a per-GPU free-milli matrix, time slicing.

Units: a GPU is 1000 milli-GPU (``MILLI_PER_GPU``), as in Alibaba's GPU-sharing cluster and
its openb trace (``gpu_milli``) and Kubernetes GPU-sharing device plugins. A request asks
for ``num_gpus`` GPUs with ``gpu_milli`` each; a fractional request (``gpu_milli`` < 1000)
is for exactly one GPU. Several fractional pods may share a GPU while their milli sum to at
most 1000.

:class:`FreeMilli` is the numpy-friendly state: an ``int32`` matrix of free milli, one row per
node and one column per GPU slot. Nodes with fewer GPUs than the widest node have padding
columns of capacity 0 (free 0), which no request can use and which count as nothing in
fragmentation sums. Allocation mistakes raise :class:`SharingError` (a scheduler bug) and
leave the matrix unchanged.

Time slicing (:class:`TimeSliceModel`): co-located pods take turns on the GPU. A pod that
asked for ``s`` milli progresses at its nominal speed while the GPU is not oversubscribed
(sum ≤ 1000), scaled down by ``1000 / sum`` when it is, and by ``1 / (1 + interference_frac
× (k − 1))`` for ``k`` co-located pods (context switches, shared caches and memory
bandwidth). ``interference_frac`` is an assumption (default 0: ideal sharing); see
docs/mig-and-sharing.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gputwin.errors import GputwinError, InputError

MILLI_PER_GPU = 1000

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]


class SharingError(GputwinError):
    """An impossible fractional allocation or release (scheduler bug)."""


@dataclass(frozen=True, slots=True)
class GpuRequest:
    """What a pod asks for: ``num_gpus`` × ``gpu_milli`` (0 GPUs = CPU-only) and CPU milli.

    Raises :class:`InputError` unless ``0 <= num_gpus``, ``1 <= gpu_milli <= 1000`` and a
    fractional ``gpu_milli`` comes with ``num_gpus == 1``.
    """

    num_gpus: int
    gpu_milli: int = MILLI_PER_GPU
    cpu_milli: float = 0.0

    def __post_init__(self) -> None:
        if self.num_gpus < 0:
            raise InputError(f"num_gpus must be >= 0, got {self.num_gpus}")
        if not 1 <= self.gpu_milli <= MILLI_PER_GPU:
            raise InputError(f"gpu_milli must be in 1..1000, got {self.gpu_milli}")
        if self.gpu_milli < MILLI_PER_GPU and self.num_gpus != 1:
            raise InputError(
                f"a fractional request (gpu_milli {self.gpu_milli}) needs num_gpus 1, "
                f"got {self.num_gpus}"
            )
        if self.cpu_milli < 0:
            raise InputError(f"cpu_milli must be >= 0, got {self.cpu_milli}")

    @property
    def is_fractional(self) -> bool:
        return self.num_gpus == 1 and self.gpu_milli < MILLI_PER_GPU

    @property
    def total_milli(self) -> int:
        """Milli-GPU taken in all: ``num_gpus × gpu_milli``."""
        return self.num_gpus * self.gpu_milli

    @property
    def threshold_milli(self) -> int:
        """Free milli a GPU needs to take one of this request's GPUs."""
        return self.gpu_milli


class FreeMilli:
    """Free milli-GPU of every GPU of every node (``free``: int32, shape nodes × slots)."""

    __slots__ = ("capacity", "free", "num_gpus")

    def __init__(self, gpus_per_node: Sequence[int]) -> None:
        counts = np.asarray(gpus_per_node, dtype=np.int32)
        if counts.ndim != 1 or (counts < 0).any():
            raise InputError("gpus_per_node must be a list of non-negative counts")
        width = int(counts.max()) if counts.size else 0
        self.num_gpus = counts
        cols = np.arange(width, dtype=np.int32)
        self.capacity: IntArray = np.where(cols[None, :] < counts[:, None], MILLI_PER_GPU, 0)
        self.capacity = self.capacity.astype(np.int32)
        self.free: IntArray = self.capacity.copy()

    @classmethod
    def from_matrix(cls, free: npt.ArrayLike, gpus_per_node: Sequence[int]) -> FreeMilli:
        """A table with given free milli (validated against capacity)."""
        table = cls(gpus_per_node)
        arr = np.asarray(free, dtype=np.int32)
        if arr.shape != table.free.shape:
            raise InputError(f"free matrix shape {arr.shape}, expected {table.free.shape}")
        if (arr < 0).any() or (arr > table.capacity).any():
            raise InputError("free milli must lie in 0..capacity of each GPU")
        table.free = arr.copy()
        return table

    @property
    def num_nodes(self) -> int:
        return int(self.free.shape[0])

    def row(self, node: int) -> IntArray:
        """A read-only view of ``node``'s free milli per GPU slot."""
        view: IntArray = self.free[node]
        view.flags.writeable = False
        return view

    def total_free_milli(self) -> int:
        return int(self.free.sum())

    def unallocated_gpus(self) -> float:
        """Free capacity of the whole table in GPUs (sum of free milli / 1000)."""
        return self.total_free_milli() / MILLI_PER_GPU

    def gpus_that_fit(self, node: int, milli: int) -> IntArray:
        """Indices of ``node``'s GPUs with at least ``milli`` free."""
        return np.flatnonzero(self.free[node] >= milli).astype(np.int32)

    def fits(self, node: int, request: GpuRequest) -> bool:
        """True when ``node`` has ``num_gpus`` GPUs with ``gpu_milli`` free each."""
        if request.num_gpus == 0:
            return True
        return int((self.free[node] >= request.gpu_milli).sum()) >= request.num_gpus

    def allocate(self, node: int, gpus: Sequence[int], milli: int) -> None:
        """Take ``milli`` from each GPU in ``gpus`` of ``node``; all or nothing."""
        idx = self._check(node, gpus, milli)
        if (self.free[node, idx] < milli).any():
            raise SharingError(f"node {node}: GPUs {list(gpus)} lack {milli} free milli")
        self.free[node, idx] -= milli

    def release(self, node: int, gpus: Sequence[int], milli: int) -> None:
        """Give back ``milli`` to each GPU in ``gpus`` of ``node``; all or nothing."""
        idx = self._check(node, gpus, milli)
        if (self.free[node, idx] + milli > self.capacity[node, idx]).any():
            raise SharingError(f"node {node}: releasing {milli} milli exceeds GPU capacity")
        self.free[node, idx] += milli

    def _check(self, node: int, gpus: Sequence[int], milli: int) -> IntArray:
        if not 0 <= node < self.num_nodes:
            raise SharingError(f"no node {node}")
        idx = np.asarray(gpus, dtype=np.int32)
        if idx.size == 0 or len(set(idx.tolist())) != idx.size:
            raise SharingError(f"node {node}: GPU list {list(gpus)} is empty or repeats")
        if (idx < 0).any() or (idx >= self.num_gpus[node]).any():
            raise SharingError(f"node {node}: GPU index out of range in {list(gpus)}")
        if not 0 < milli <= MILLI_PER_GPU:
            raise SharingError(f"milli must be in 1..1000, got {milli}")
        return idx


def free_milli_row(
    gpus_per_node: int, free_whole: int, partial_used_milli: Mapping[int, int],
    mig_gpus: Sequence[int] = (),
) -> IntArray:
    """One node's free-milli row from a whole-GPU ledger.

    ``partial_used_milli`` maps a GPU index to the milli its shares use; ``mig_gpus`` are
    GPUs in MIG mode (no milli shares possible: free 0). The ``free_whole`` anonymous whole
    GPUs take the lowest remaining indices (1000 free); every other GPU is fully taken (0).
    """
    row = np.zeros(gpus_per_node, dtype=np.int32)
    taken = set(partial_used_milli) | set(mig_gpus)
    for gpu, used in partial_used_milli.items():
        if not 0 <= used <= MILLI_PER_GPU:
            raise SharingError(f"GPU {gpu}: used milli {used} outside 0..1000")
        row[gpu] = MILLI_PER_GPU - used
    spare = [g for g in range(gpus_per_node) if g not in taken]
    if free_whole > len(spare):
        raise SharingError(f"{free_whole} whole GPUs free but only {len(spare)} unshared")
    row[spare[:free_whole]] = MILLI_PER_GPU
    return row


@dataclass(frozen=True, slots=True)
class TimeSliceModel:
    """Progress of pods time-sharing one GPU (see the module docstring).

    ``interference_frac``: slowdown per additional co-located pod, an assumption in
    ``[0, 1]`` (0 = ideal sharing). Raises :class:`InputError` outside that range.
    """

    interference_frac: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.interference_frac <= 1.0:
            raise InputError(f"interference_frac must be in [0, 1], got {self.interference_frac}")

    def rates(self, shares_milli: Sequence[int]) -> FloatArray:
        """Progress rate of each co-located pod relative to its nominal speed (≤ 1).

        Nominal speed = the speed the pod has alone with its requested share.
        """
        shares = np.asarray(shares_milli, dtype=np.float64)
        if shares.size == 0:
            return shares
        if (shares <= 0).any():
            raise InputError("every time-sliced share must be positive milli")
        total = float(shares.sum())
        oversub = min(1.0, MILLI_PER_GPU / total)
        penalty = 1.0 / (1.0 + self.interference_frac * (shares.size - 1))
        return np.full(shares.size, oversub * penalty)

    def gpu_fractions(self, shares_milli: Sequence[int]) -> FloatArray:
        """GPU-equivalents each pod receives: ``share / 1000 × rate`` (sum ≤ 1)."""
        shares = np.asarray(shares_milli, dtype=np.float64)
        return shares / MILLI_PER_GPU * self.rates(shares_milli)
