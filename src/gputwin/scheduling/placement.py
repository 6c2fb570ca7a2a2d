"""Gang placement: choose nodes for all of a job's GPUs at once, or nothing.

Rules shared by every placer:

- a job of at most ``gpus_per_node`` GPUs goes on a single node (its tensor-parallel group
  must stay inside NVLink);
- a larger job takes ``num_gpus // gpus_per_node`` *whole free* nodes, plus the remainder
  on one more node;
- ``None`` means "not now" (not enough free GPUs in the right shape).

``first_fit`` scans nodes in id order (ids are grouped by leaf, so it tends to pack
leaves). ``leaf_pack`` is topology-aware: it picks the leaves that minimise the number of
leaves spanned (the tightest leaf that fits the whole job, otherwise the leaves with the
most free whole nodes first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement, make_placement

Placer = Callable[[ClusterLayout, Sequence[int], int], Placement | None]


def first_fit(layout: ClusterLayout, free: Sequence[int], num_gpus: int) -> Placement | None:
    """First nodes in id order that hold the gang; ``free`` = free GPUs per node."""
    return _place(layout, free, num_gpus, range(layout.num_nodes))


def leaf_pack(layout: ClusterLayout, free: Sequence[int], num_gpus: int) -> Placement | None:
    """Like :func:`first_fit` but visits nodes leaf by leaf, fewest leaves spanned first."""
    gpn = layout.gpus_per_node
    if num_gpus <= gpn:
        # Best fit inside a node: the fullest node that still has room (fights fragmentation).
        best = min((n for n in range(layout.num_nodes) if free[n] >= num_gpus),
                   key=lambda n: (free[n], n), default=None)
        return None if best is None else make_placement(layout, {best: num_gpus})
    need_nodes = -(-num_gpus // gpn)
    capacity = []
    for leaf in range(layout.num_leaves):
        nodes = layout.leaf_nodes(leaf)
        capacity.append((sum(1 for n in nodes if free[n] == gpn), leaf))
    fitting = sorted((c, leaf) for c, leaf in capacity if c >= need_nodes)
    if fitting:
        order = [fitting[0][1]]  # tightest single leaf that holds the whole job
    else:
        order = [leaf for _, leaf in sorted(capacity, key=lambda x: (-x[0], x[1]))]
    visit = [n for leaf in order for n in layout.leaf_nodes(leaf)]
    visit += [n for n in range(layout.num_nodes) if layout.leaf_of(n) not in set(order)]
    return _place(layout, free, num_gpus, visit)


def _place(
    layout: ClusterLayout, free: Sequence[int], num_gpus: int, order: Sequence[int]
) -> Placement | None:
    gpn = layout.gpus_per_node
    if num_gpus <= gpn:
        for node in order:
            if free[node] >= num_gpus:
                return make_placement(layout, {node: num_gpus})
        return None
    whole, rest = divmod(num_gpus, gpn)
    chosen: dict[int, int] = {}
    for node in order:
        if free[node] == gpn:
            chosen[node] = gpn
            if len(chosen) == whole:
                break
    if len(chosen) < whole:
        return None
    if rest:
        tail = next((n for n in order if n not in chosen and free[n] >= rest), None)
        if tail is None:
            return None
        chosen[tail] = rest
    return make_placement(layout, chosen)


PLACERS: dict[str, Placer] = {"first_fit": first_fit, "leaf_pack": leaf_pack}
