"""Gang placement algorithms: choose nodes for all of a job's GPUs at once, or nothing.

Rules shared by every placer:

- a job of at most ``gpus_per_node`` GPUs goes on a single node (its tensor-parallel group
  must stay inside NVLink);
- a larger job takes ``num_gpus // gpus_per_node`` *whole free* nodes, plus the remainder
  on one more node;
- ``None`` means "not now" (not enough free GPUs in the right shape).

``free`` is a numpy vector (or any sequence) of free GPUs per node; nodes the job may not
use must already be 0. ``rank`` (optional) orders candidate nodes: higher first, ties by
node id. :func:`first_fit` scans node ids (grouped by leaf, so it tends to pack leaves);
:func:`leaf_pack` / :func:`group_pack` are topology-aware (fewest groups spanned, tightest
group that holds the whole gang).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement, make_placement

Placer = Callable[[ClusterLayout, Sequence[int], int], Placement | None]


def _arr(free: Sequence[int] | np.ndarray) -> np.ndarray:
    return free if isinstance(free, np.ndarray) else np.asarray(free, dtype=np.int64)


def place_ranked(layout: ClusterLayout, free: np.ndarray, num_gpus: int,
                 rank: np.ndarray | None = None, best_fit: bool = False) -> Placement | None:
    """Place by node rank (``None`` = node id order). ``best_fit``: a single-node job takes
    the node with the fewest free GPUs that still fits (fights fragmentation)."""
    gpn = layout.gpus_per_node
    if num_gpus <= gpn:
        cand = np.flatnonzero(free >= num_gpus)
        if cand.size == 0:
            return None
        if rank is not None:
            best = cand[np.argmax(rank[cand])]  # argmax: first of ties = lowest id
        elif best_fit:
            best = cand[np.argmin(free[cand])]
        else:
            best = cand[0]
        return make_placement(layout, {int(best): num_gpus})
    whole, rest = divmod(num_gpus, gpn)
    full = np.flatnonzero(free == gpn)
    if full.size < whole:
        return None
    if rank is not None and full.size > whole:
        full = full[np.argsort(-rank[full], kind="stable")]
    chosen = {int(n): gpn for n in full[:whole]}
    if rest:
        cand = np.flatnonzero(free >= rest)
        cand = cand[~np.isin(cand, full[:whole])]
        if cand.size == 0:
            return None
        if rank is not None:
            tail = cand[np.argmax(rank[cand])]
        else:  # best fit for the remainder, then lowest id
            tail = cand[np.argmin(free[cand])] if best_fit else cand[0]
        chosen[int(tail)] = rest
    return make_placement(layout, chosen)


def first_fit(layout: ClusterLayout, free: Sequence[int], num_gpus: int) -> Placement | None:
    """First nodes in id order that hold the gang; ``free`` = free GPUs per node."""
    return place_ranked(layout, _arr(free), num_gpus)


def group_pack(layout: ClusterLayout, free: np.ndarray, num_gpus: int, groups: np.ndarray,
               *, allow_span: bool = True) -> Placement | None:
    """Topology-aware gang placement over node ``groups`` (e.g. leaf id per node).

    Single-node jobs: best fit. Multi-node jobs: the tightest group that holds the whole
    gang (fewest whole free nodes that suffice); otherwise, if ``allow_span``, the groups
    with the most whole free nodes first (fewest groups spanned), else ``None``.
    """
    gpn = layout.gpus_per_node
    if num_gpus <= gpn:
        return place_ranked(layout, free, num_gpus, best_fit=True)
    whole, rest = divmod(num_gpus, gpn)
    is_full = free == gpn
    num_groups = int(groups.max()) + 1 if groups.size else 0
    full_per = np.bincount(groups, weights=is_full, minlength=num_groups)
    partial = np.where(is_full, 0, free)
    best_partial = np.zeros(num_groups, dtype=np.int64)
    np.maximum.at(best_partial, groups, partial)
    fits = full_per >= whole
    if rest:
        fits &= (full_per > whole) | (best_partial >= rest)
    if fits.any():
        cand = np.flatnonzero(fits)
        group = cand[np.argmin(full_per[cand])]  # tightest group; ties → lowest id
        return place_ranked(layout, np.where(groups == group, free, 0), num_gpus,
                            best_fit=True)
    if not allow_span:
        return None
    # Span: prefer nodes of the groups with the most whole free nodes.
    return place_ranked(layout, free, num_gpus, rank=full_per[groups].astype(float))


def leaf_pack(layout: ClusterLayout, free: Sequence[int], num_gpus: int) -> Placement | None:
    """Fewest leaves spanned: tightest single leaf, else the emptiest leaves first."""
    groups = np.asarray(layout.level_ids("leaf"), dtype=np.int64)
    return group_pack(layout, _arr(free), num_gpus, groups)


PLACERS: dict[str, Placer] = {"first_fit": first_fit, "leaf_pack": leaf_pack}


def torus_slice_place(layout: ClusterLayout, free: np.ndarray, num_gpus: int,
                      hosts_per_block: int, *, static: bool) -> Placement | None:
    """A TPU-style slice on a torus of blocks (``hosts_per_block`` consecutive nodes each).

    Up to one block: a sub-block slice on one block, the fullest block that holds it (best
    fit keeps whole blocks for large slices). Larger: ``ceil(num_gpus / block)`` whole free
    blocks, filled in order. With an OCS any free blocks can be wired into the slice;
    statically wired (``static``) only a fixed menu of slices exists, modelled as runs of
    ``k`` consecutive blocks starting at a multiple of ``k``.
    """
    gpn = layout.gpus_per_node
    per_block = hosts_per_block * gpn
    by_block = free.reshape(-1, hosts_per_block)
    if num_gpus <= per_block:
        block_free = by_block.sum(axis=1)
        for b in np.flatnonzero(block_free >= num_gpus)[
                np.argsort(block_free[block_free >= num_gpus], kind="stable")]:
            sub = np.zeros_like(free)
            lo = int(b) * hosts_per_block
            sub[lo:lo + hosts_per_block] = by_block[b]
            placement = place_ranked(layout, sub, num_gpus, best_fit=True)
            if placement is not None:
                return placement
        return None
    k = -(-num_gpus // per_block)
    whole = np.flatnonzero((by_block == gpn).all(axis=1))
    if whole.size < k:
        return None
    if static:
        is_whole = np.zeros(by_block.shape[0], dtype=bool)
        is_whole[whole] = True
        starts = [s for s in range(0, by_block.shape[0] - k + 1, k) if is_whole[s:s + k].all()]
        if not starts:
            return None
        blocks = np.arange(starts[0], starts[0] + k)
    else:
        blocks = whole[:k]
    nodes = (blocks[:, None] * hosts_per_block + np.arange(hosts_per_block)).ravel()
    chosen = {int(n): gpn for n in nodes[:num_gpus // gpn]}
    if num_gpus % gpn:
        chosen[int(nodes[num_gpus // gpn])] = num_gpus % gpn
    return make_placement(layout, chosen)
