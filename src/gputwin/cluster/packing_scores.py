"""Node scores of the FGD paper's other packing baselines (Weng et al., USENIX ATC'23,
Sec. 6.1): dot-product (Tetris-style alignment), GPU clustering and random fit.

Every function returns one score per node, lower = better, ``inf`` where the request does
not fit; pair with :func:`gputwin.cluster.fragmentation.choose_gpus` for the GPUs.
Our reading of the baselines as the paper describes them (no code taken from its
simulator):

- dot-product: the dot product of the node's free (CPU, GPU) vector and the request's,
  each normalised by the node's capacity; the *smallest* product wins, i.e. the node
  whose free resources the request aligns with least (the node the paper's simulator
  scores highest).
- GPU clustering: pods of one GPU-share class (``gpu_milli``) gathered on the same nodes:
  a node already holding only this class first, then one holding it among others, then
  an idle node, then a node of other classes; within a tier the least free GPU.
- random: a uniformly random fitting node.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gputwin.cluster.sharing import MILLI_PER_GPU, FreeMilli, GpuRequest

FloatArray = npt.NDArray[np.float64]
INF = float("inf")


def fits(table: FreeMilli, request: GpuRequest, free_cpu_milli: FloatArray) -> npt.NDArray[
        np.bool_]:
    """Nodes with ``num_gpus`` GPUs of ≥ ``gpu_milli`` free each and the CPU."""
    enough = (table.free >= request.gpu_milli).sum(axis=1) >= request.num_gpus
    return enough & (free_cpu_milli >= request.cpu_milli)  # type: ignore[no-any-return]


def dot_product_scores(table: FreeMilli, request: GpuRequest, free_cpu_milli: FloatArray,
                       cpu_capacity_milli: FloatArray) -> FloatArray:
    """Σ over (CPU, GPU) of free/capacity × request/capacity (lower = better)."""
    gpu_cap = np.maximum(table.capacity.sum(axis=1), 1).astype(np.float64)
    known = np.isfinite(cpu_capacity_milli)
    cpu_cap = np.where(known, np.maximum(cpu_capacity_milli, 1.0), 1.0)
    free_cpu = np.where(known, free_cpu_milli, 0.0)
    cpu_term = (free_cpu / cpu_cap) * (request.cpu_milli / cpu_cap)
    gpu_term = (table.free.sum(axis=1) / gpu_cap) * (request.total_milli / gpu_cap)
    return np.where(fits(table, request, free_cpu_milli), cpu_term + gpu_term, INF)


def clustering_scores(table: FreeMilli, request: GpuRequest, free_cpu_milli: FloatArray,
                      has_class: npt.NDArray[np.bool_],
                      num_classes: npt.NDArray[np.int64]) -> FloatArray:
    """``has_class``: nodes holding pods of the request's ``gpu_milli`` class now;
    ``num_classes``: how many classes each node holds."""
    only = has_class & (num_classes == 1)
    idle = num_classes == 0
    tier = np.where(only, 0, np.where(has_class, 1, np.where(idle, 2, 3))).astype(np.float64)
    cap = np.maximum(table.capacity.sum(axis=1), 1).astype(np.float64)
    left = table.free.sum(axis=1) / (cap + MILLI_PER_GPU)
    return np.where(fits(table, request, free_cpu_milli), tier + left, INF)


def random_scores(table: FreeMilli, request: GpuRequest, free_cpu_milli: FloatArray,
                  rng: np.random.Generator) -> FloatArray:
    """A random order of the fitting nodes."""
    draw = rng.random(table.free.shape[0])
    return np.where(fits(table, request, free_cpu_milli), draw, INF)
