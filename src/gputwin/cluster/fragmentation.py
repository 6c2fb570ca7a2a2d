"""GPU fragmentation (FGD, Weng et al., USENIX ATC'23) and the packing baselines it beats.

Definitions (the paper's Sec. 3, restated in milli-GPU): a node has free milli ``r_g`` per
GPU (and optionally free CPU). For one task ``m`` the node's *fragmentation* ``F_n(m)`` is

* all its free GPU capacity ``Σ_g r_g`` when ``m`` cannot run on the node (too few GPUs
  with enough free milli, or too little CPU) or ``m`` asks for no GPU;
* otherwise the free capacity of the GPUs ``m`` cannot use: ``Σ_g r_g · [r_g < t_m]`` with
  ``t_m`` = the task's per-GPU milli (1000 for whole-GPU tasks).

For a *target workload* ``M`` (task classes with popularities ``p_m`` summing to 1) the node's
expected fragmentation is ``F_n(M) = Σ_m p_m F_n(m)``, the cluster's ``Σ_n F_n(M)``, and the
fragmentation rate is that over all free GPU capacity. FGD places a task where the cluster
fragmentation grows least: on the node and GPU minimising ``ΔF_n = F_n'(M) − F_n(M)``.

Speed: :class:`FragmentationIndex` keeps per node and class the count of GPUs with enough
free milli and the free milli of the others, so a one-GPU change is scored in O(classes);
scores per request are cached per node and recomputed only for nodes changed since
(``update_node``). Results are in milli-GPU (divide by 1000 for GPUs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from gputwin.cluster.sharing import MILLI_PER_GPU, FreeMilli, GpuRequest
from gputwin.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
INF = float("inf")


class TargetWorkload:
    """Task classes (:class:`GpuRequest`) and their popularities (normalised to sum 1)."""

    __slots__ = ("cpu", "is_gpu", "num_gpus", "prob", "requests", "threshold")

    def __init__(self, weights: Mapping[GpuRequest, float]) -> None:
        if not weights:
            raise InputError("target workload: no task classes")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise InputError("target workload: weights must be >= 0 with a positive sum")
        self.requests = tuple(weights)
        total = float(sum(weights.values()))
        self.prob: FloatArray = np.array([weights[r] / total for r in self.requests])
        self.num_gpus: IntArray = np.array([r.num_gpus for r in self.requests], dtype=np.int64)
        self.is_gpu = self.num_gpus > 0
        self.threshold: IntArray = np.array([r.gpu_milli for r in self.requests], dtype=np.int64)
        self.cpu: FloatArray = np.array([r.cpu_milli for r in self.requests], dtype=np.float64)

    @classmethod
    def from_requests(cls, requests: Iterable[GpuRequest], *, with_cpu: bool = True
                      ) -> TargetWorkload:
        """Popularity = frequency of each distinct request.

        Keep ``with_cpu`` when nodes' free CPU is modelled: a CPU-only task then scores the
        GPU capacity it strands by eating a GPU node's CPU (without it, every node scores 0
        for CPU-only tasks and they pile onto the lowest-numbered nodes).
        """
        counts = Counter(
            r if with_cpu else GpuRequest(r.num_gpus, r.gpu_milli) for r in requests
        )
        return cls(dict(counts))

    @classmethod
    def from_gpus(cls, weights: Mapping[float, float]) -> TargetWorkload:
        """From ``{gpus: weight}`` with GPUs as a float (0.25, 0.5, 1, 2, 8; 0 = CPU-only)."""
        out: dict[GpuRequest, float] = {}
        for gpus, weight in weights.items():
            if 0 < gpus < 1:
                req = GpuRequest(1, max(1, round(gpus * MILLI_PER_GPU)))
            elif float(gpus).is_integer():
                req = GpuRequest(int(gpus))
            else:
                raise InputError(f"target workload: {gpus} GPUs is neither < 1 nor whole")
            out[req] = out.get(req, 0.0) + weight
        return cls(out)

    def __len__(self) -> int:
        return len(self.requests)


def _as_matrix(free: npt.ArrayLike | FreeMilli) -> IntArray:
    arr = np.asarray(free.free if isinstance(free, FreeMilli) else free, dtype=np.int64)
    return arr[None, :] if arr.ndim == 1 else arr


def _cpu_vector(cpu: npt.ArrayLike | None, num_nodes: int) -> FloatArray:
    if cpu is None:
        return np.full(num_nodes, INF)
    return np.broadcast_to(np.asarray(cpu, dtype=np.float64), (num_nodes,)).copy()


def _summaries(free: IntArray, wl: TargetWorkload) -> tuple[IntArray, IntArray]:
    """Per node and class: GPUs with ≥ threshold free, and free milli of the other GPUs."""
    ge = free[:, :, None] >= wl.threshold[None, None, :]
    count = ge.sum(axis=1)
    below = np.where(ge, 0, free[:, :, None]).sum(axis=1)
    return count, below


def _expected(count: npt.NDArray[np.int64], below: npt.NDArray[np.int64],
              total: npt.NDArray[np.int64], cpu: FloatArray, wl: TargetWorkload) -> FloatArray:
    """``F_n(M)`` from summaries; leading axes of all inputs broadcast, classes last."""
    feasible = (count >= wl.num_gpus) & (cpu[..., None] >= wl.cpu)
    tot = total[..., None]
    per_class = np.where(wl.is_gpu & feasible, below, tot)
    return per_class.astype(np.float64) @ wl.prob


def node_fragmentation_milli(
    free: npt.ArrayLike | FreeMilli, workload: TargetWorkload,
    free_cpu_milli: npt.ArrayLike | None = None,
) -> FloatArray:
    """``F_n(M)`` of every node (``free``: nodes × GPU slots, or one row) in milli-GPU."""
    mat = _as_matrix(free)
    count, below = _summaries(mat, workload)
    cpu = _cpu_vector(free_cpu_milli, mat.shape[0])
    return _expected(count, below, mat.sum(axis=1), cpu, workload)


def cluster_fragmentation_milli(
    free: npt.ArrayLike | FreeMilli, workload: TargetWorkload,
    free_cpu_milli: npt.ArrayLike | None = None,
) -> float:
    """``Σ_n F_n(M)`` in milli-GPU."""
    return float(node_fragmentation_milli(free, workload, free_cpu_milli).sum())


def fragmentation_rate(
    free: npt.ArrayLike | FreeMilli, workload: TargetWorkload,
    free_cpu_milli: npt.ArrayLike | None = None,
) -> float:
    """Fragmented over unallocated GPU capacity (0 when nothing is free)."""
    unallocated = float(_as_matrix(free).sum())
    if unallocated <= 0:
        return 0.0
    return cluster_fragmentation_milli(free, workload, free_cpu_milli) / unallocated


class FragmentationIndex:
    """Per-node fragmentation of a cluster, kept current by :meth:`update_node`, and FGD scores.

    Holds its own copy of the free matrix and free CPU (``inf`` = CPU not modelled); the
    caller reports every change of a node with :meth:`update_node`.
    """

    __slots__ = ("_below", "_cache", "_count", "_cpu", "_free", "_total", "_version",
                 "frag", "workload")

    def __init__(self, free: npt.ArrayLike | FreeMilli, workload: TargetWorkload,
                 free_cpu_milli: npt.ArrayLike | None = None) -> None:
        self.workload = workload
        self._free = _as_matrix(free).copy()
        n = self._free.shape[0]
        self._cpu = _cpu_vector(free_cpu_milli, n)
        self._count, self._below = _summaries(self._free, workload)
        self._total = self._free.sum(axis=1)
        self.frag: FloatArray = _expected(self._count, self._below, self._total, self._cpu,
                                          workload)
        self._version = np.zeros(n, dtype=np.int64)
        self._cache: dict[GpuRequest, tuple[FloatArray, IntArray, IntArray]] = {}

    @property
    def num_nodes(self) -> int:
        return int(self._free.shape[0])

    @property
    def cluster_fragmentation_milli(self) -> float:
        return float(self.frag.sum())

    @property
    def unallocated_milli(self) -> int:
        return int(self._total.sum())

    @property
    def fragmentation_rate(self) -> float:
        free = self.unallocated_milli
        return self.cluster_fragmentation_milli / free if free > 0 else 0.0

    def update_node(self, node: int, free_row: npt.ArrayLike,
                    free_cpu_milli: float | None = None) -> None:
        """Record ``node``'s new free milli per GPU (and free CPU, if modelled)."""
        row = np.asarray(free_row, dtype=np.int64)
        self._free[node] = row
        if free_cpu_milli is not None:
            self._cpu[node] = free_cpu_milli
        count, below = _summaries(row[None, :], self.workload)
        self._count[node], self._below[node] = count[0], below[0]
        self._total[node] = row.sum()
        self.frag[node] = _expected(count, below, self._total[node:node + 1],
                                    self._cpu[node:node + 1], self.workload)[0]
        self._version[node] += 1

    def fgd_delta(self, request: GpuRequest) -> tuple[FloatArray, IntArray]:
        """``ΔF_n`` of placing ``request`` on each node (``inf`` where it does not fit) and,
        for a fractional request, the best GPU per node (``-1`` otherwise). Read-only arrays.
        """
        cached = self._cache.get(request)
        if cached is None:
            n = self.num_nodes
            cached = (np.full(n, INF), np.full(n, -1, dtype=np.int64),
                      np.full(n, -1, dtype=np.int64))
            self._cache[request] = cached
        delta, gpu, seen = cached
        stale = np.flatnonzero(seen != self._version)
        if stale.size:
            d, g = self._score(request, stale)
            delta[stale], gpu[stale], seen[stale] = d, g, self._version[stale]
        out_d, out_g = delta.view(), gpu.view()
        out_d.flags.writeable = False
        out_g.flags.writeable = False
        return out_d, out_g

    def _score(self, req: GpuRequest, idx: IntArray) -> tuple[FloatArray, IntArray]:
        wl = self.workload
        a = self._free[idx]
        cpu2 = self._cpu[idx] - req.cpu_milli
        cpu_ok = cpu2 >= 0
        base = self.frag[idx]
        if req.is_fractional and a.shape[1] == 0:  # no node has a GPU slot
            return np.full(idx.size, INF), np.full(idx.size, -1, dtype=np.int64)
        if req.is_fractional:
            d = req.gpu_milli
            b = a - d
            t = wl.threshold[None, None, :]
            a_ge, b_ge = a[:, :, None] >= t, b[:, :, None] >= t
            count2 = self._count[idx][:, None, :] + b_ge - a_ge
            below2 = (self._below[idx][:, None, :] + np.where(b_ge, 0, b[:, :, None])
                      - np.where(a_ge, 0, a[:, :, None]))
            total2 = np.broadcast_to((self._total[idx] - d)[:, None], a.shape)
            new = _expected(count2, below2, total2, np.broadcast_to(cpu2[:, None], a.shape), wl)
            delta = new - base[:, None]
            delta[(a < d) | ~cpu_ok[:, None]] = INF
            best = delta.min(axis=1)
            ties = delta <= best[:, None] + 1e-9
            gpu = np.argmin(np.where(ties & np.isfinite(delta), a, 2 * MILLI_PER_GPU), axis=1)
            gpu = np.where(np.isfinite(best), gpu, -1)
            return best, gpu.astype(np.int64)
        k = req.num_gpus
        if k == 0:
            count2, total2, ok = self._count[idx], self._total[idx], cpu_ok
        else:
            full = (a >= MILLI_PER_GPU).sum(axis=1)
            count2 = self._count[idx] - k  # every threshold is <= 1000: a full GPU counted
            total2 = self._total[idx] - k * MILLI_PER_GPU
            ok = cpu_ok & (full >= k)
        new = _expected(count2, self._below[idx], total2, cpu2, wl)
        delta = np.where(ok, new - base, INF)
        return delta, np.full(idx.size, -1, dtype=np.int64)

    def fgd_choose(
        self, request: GpuRequest, allowed: npt.NDArray[np.bool_] | None = None
    ) -> tuple[int, tuple[int, ...]] | None:
        """The FGD placement ``(node, gpus)`` among ``allowed`` nodes, or ``None``.

        Ties go to the lowest node index; whole GPUs are the node's lowest fully free ones.
        """
        delta, gpu = self.fgd_delta(request)
        scores = delta if allowed is None else np.where(allowed, delta, INF)
        node = int(np.argmin(scores))
        if not np.isfinite(scores[node]):
            return None
        return node, choose_gpus(self._free[node], request, int(gpu[node]))


def choose_gpus(free_row: npt.ArrayLike, request: GpuRequest, preferred: int = -1
                ) -> tuple[int, ...]:
    """GPU indices for ``request`` on a node: ``preferred`` for a fractional request (else the
    fitting GPU with least free), the lowest fully free GPUs for whole ones, none for CPU-only.
    """
    row = np.asarray(free_row, dtype=np.int64)
    if request.num_gpus == 0:
        return ()
    if request.is_fractional:
        if preferred >= 0:
            return (preferred,)
        fits = np.flatnonzero(row >= request.gpu_milli)
        return (int(fits[np.argmin(row[fits])]),) if fits.size else ()
    full = np.flatnonzero(row >= MILLI_PER_GPU)
    return tuple(int(g) for g in full[: request.num_gpus])


# -- baselines --------------------------------------------------------------------------------


def _capacity(free: npt.ArrayLike | FreeMilli, mat: IntArray) -> IntArray:
    """Capacity milli per GPU slot: the table's, or 1000 for every column of a plain matrix."""
    if isinstance(free, FreeMilli):
        return free.capacity.astype(np.int64)
    return np.full(mat.shape, MILLI_PER_GPU, dtype=np.int64)


def _fits(mat: IntArray, request: GpuRequest, cpu: FloatArray) -> npt.NDArray[np.bool_]:
    enough = (mat >= request.gpu_milli).sum(axis=1) >= request.num_gpus
    return enough & (cpu >= request.cpu_milli)  # type: ignore[no-any-return]


def bestfit_scores(free: npt.ArrayLike | FreeMilli, request: GpuRequest,
                   free_cpu_milli: npt.ArrayLike | None = None,
                   cpu_capacity_milli: npt.ArrayLike | None = None,
                   gpu_weight: float = 1.0, cpu_weight: float = 1.0) -> FloatArray:
    """Best-fit: resources left on each node after placing ``request`` (lower = better): a
    weighted sum of the GPU share left and, when CPU is given, the CPU share left; ``inf``
    where it does not fit. Pair with :func:`choose_gpus` (least-free fitting GPU)."""
    mat = _as_matrix(free)
    cpu = _cpu_vector(free_cpu_milli, mat.shape[0])
    cap = np.maximum(_capacity(free, mat).sum(axis=1), 1).astype(np.float64)
    left = gpu_weight * (mat.sum(axis=1) - request.total_milli) / cap
    if free_cpu_milli is not None:
        cap_cpu = np.asarray(cpu if cpu_capacity_milli is None else cpu_capacity_milli,
                             dtype=np.float64)
        left = left + cpu_weight * (cpu - request.cpu_milli) / np.maximum(cap_cpu, 1.0)
    return np.where(_fits(mat, request, cpu), left, INF)


def gpu_packing_scores(free: npt.ArrayLike | FreeMilli, request: GpuRequest,
                       free_cpu_milli: npt.ArrayLike | None = None) -> FloatArray:
    """GPU packing: prefer (0) a partly used GPU that fits a fractional request, then (1) a
    node already partly used, then (2) an idle node; within a tier the node with the least
    free GPU capacity left (lower = better, ``inf`` = does not fit). Pair with
    :func:`choose_gpus`."""
    mat = _as_matrix(free)
    cap = _capacity(free, mat)
    cpu = _cpu_vector(free_cpu_milli, mat.shape[0])
    partial_fit = ((mat >= request.gpu_milli) & (mat < cap)).any(axis=1)
    node_used = mat.sum(axis=1) < cap.sum(axis=1)
    tier = np.where(request.is_fractional & partial_fit, 0, np.where(node_used, 1, 2))
    left = (mat.sum(axis=1) - request.total_milli) / np.maximum(cap.sum(axis=1) + 1, 1)
    return np.where(_fits(mat, request, cpu), tier + np.clip(left, 0.0, 0.999), INF)
