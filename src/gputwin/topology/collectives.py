"""Collective communication cost model.

Public API (stable, used by perf/, the simulator and the CLI):

- ``CollectiveOp``: all_reduce, all_gather, reduce_scatter, all_to_all, send_recv,
  broadcast, reduce.
- ``LinkLevel``, ``CommGroup``: who communicates and over which links.
- ``group_for_ranks(hw, group_size, rank_stride, num_leaves_spanned=None)``.
- ``collective_time(op, size_bytes, group, algorithm="auto") -> CollectiveEstimate``.

``size_bytes`` follows nccl-tests: the full buffer of the collective (the all-reduce
buffer; the *output* of all-gather; the *input* of reduce-scatter; the total per-rank
buffer of all-to-all; the message of send/recv). ``algbw = size / time`` and
``busbw = algbw * factor`` with nccl-tests' factors (2(n-1)/n for all-reduce, (n-1)/n for
all-gather/reduce-scatter/all-to-all, 1 otherwise).

The model: time = launch + latency (steps x per-hop latency, scaled by the protocol) +
bytes on the busiest link / its effective bandwidth, for ring, double-binary tree, NVLS
(NVLSTree across nodes), hierarchical and direct algorithms over the LL, LL128 and
Simple protocols; ``auto`` takes the fastest, like NCCL's tuner. See docs/collectives.md.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gputwin.errors import InputError
from gputwin.topology import algorithms as alg
from gputwin.topology.comm_group import group_for_ranks, torus_shape
from gputwin.topology.comm_types import (
    CollectiveEstimate,
    CollectiveOp,
    CommGroup,
    LinkLevel,
    busbw_factor,
)
from gputwin.topology.protocol import LL128, PROTOCOLS, SIMPLE, Protocol

__all__ = [
    "ALGORITHMS",
    "CollectiveEstimate",
    "CollectiveOp",
    "CommGroup",
    "LinkLevel",
    "applicable_algorithms",
    "busbw_factor",
    "collective_time",
    "group_for_ranks",
    "torus_shape",
]

#: Algorithm names accepted by :func:`collective_time` (besides ``auto``).
ALGORITHMS: tuple[str, ...] = ("ring", "tree", "nvls", "hierarchical", "direct")

_AR = CollectiveOp.ALL_REDUCE
_GATHER_LIKE = (CollectiveOp.ALL_GATHER, CollectiveOp.REDUCE_SCATTER)
_PIPELINE = (CollectiveOp.BROADCAST, CollectiveOp.REDUCE)
_DIRECT = (CollectiveOp.ALL_TO_ALL, CollectiveOp.SEND_RECV)


def applicable_algorithms(op: CollectiveOp, group: CommGroup) -> tuple[str, ...]:
    """Algorithms that exist for ``op`` on ``group`` (what ``auto`` chooses among)."""
    return _applicable(op, alg.Ctx(group))


def _applicable(op: CollectiveOp, c: alg.Ctx) -> tuple[str, ...]:
    multi = c.d > 1 and c.g > 1
    if op is _AR:
        # NCCL uses trees across nodes only (inside a node a "tree" is a chain).
        names = ["ring", "tree"] if c.d > 1 else ["ring"]
        if c.nvls > 0.0 and c.g > 1 and not c.torus:
            names.append("nvls")
        if multi:
            names.append("hierarchical")
        return tuple(names)
    if op in _GATHER_LIKE:
        return ("ring", "hierarchical") if multi else ("ring",)
    if op in _PIPELINE:
        return ("ring",)
    return ("direct",)


def _cost(op: CollectiveOp, name: str, s: float, c: alg.Ctx) -> alg.Cost:
    if name == "ring":
        if op in _PIPELINE:
            return alg.pipeline(s, c)
        return alg.ring(s, c, 2 if op is _AR else 1)
    if name == "tree":
        return alg.tree(s, c)
    if name == "nvls":
        return alg.nvls(s, c)
    if name == "hierarchical":
        return alg.hierarchical(s, c, op is _AR)
    if op is CollectiveOp.ALL_TO_ALL:
        return alg.all_to_all(s, c)
    return alg.send_recv(s, c)


def _protocols(c: alg.Ctx) -> tuple[Protocol, ...]:
    """LL, LL128, Simple; LL128 with the scale-up fabric's own call cost where it has one."""
    if c.ll128_base is None:
        return PROTOCOLS
    return tuple(replace(p, base_s=c.ll128_base) if p is LL128 else p for p in PROTOCOLS)


def _best_protocol(name: str, cost: alg.Cost,
                   protocols: tuple[Protocol, ...] = PROTOCOLS) -> tuple[float, Protocol]:
    lat, bw = cost[0], cost[1]
    if name == "nvls":
        return SIMPLE.base_s + lat * SIMPLE.latency_mult + bw, SIMPLE
    best_t, best_p = math.inf, SIMPLE
    for p in protocols:
        t = p.base_s + lat * p.latency_mult + bw / p.bandwidth_frac
        if t < best_t:
            best_t, best_p = t, p
    return best_t, best_p


def _peer_overhead(op: CollectiveOp, n: int) -> float:
    if op is CollectiveOp.ALL_TO_ALL:
        from gputwin.topology.protocol import ALL_TO_ALL_PEER_OVERHEAD_S

        return (n - 1) * ALL_TO_ALL_PEER_OVERHEAD_S
    return 0.0


def collective_time(
    op: CollectiveOp | str, size_bytes: float, group: CommGroup, algorithm: str = "auto"
) -> CollectiveEstimate:
    """Time of one collective of ``size_bytes`` (nccl-tests convention) on ``group``.

    ``algorithm``: ``auto`` (fastest applicable) or one of :data:`ALGORITHMS`. Raises
    :class:`InputError` for an unknown op/algorithm, one that does not apply to this op
    or hardware, or a negative size. A group of one GPU costs nothing (bandwidths inf).
    """
    try:
        op = CollectiveOp(op)
    except ValueError:
        raise InputError(f"unknown collective op {op!r}; expected one of "
                         f"{', '.join(o.value for o in CollectiveOp)}") from None
    if not size_bytes >= 0.0:
        raise InputError(f"collective size must be >= 0 bytes, got {size_bytes}")
    n = group.num_gpus
    if n <= 1 or size_bytes == 0.0:
        return CollectiveEstimate(op, size_bytes, n, "none", 0.0, math.inf, math.inf,
                                  num_domains=group.num_domains, num_nodes=group.num_nodes)
    c = alg.Ctx(group)
    names = _applicable(op, c)
    if algorithm != "auto":
        if algorithm not in ALGORITHMS:
            raise InputError(f"unknown algorithm {algorithm!r}; expected auto or one of "
                             f"{', '.join(ALGORITHMS)}")
        if algorithm not in names:
            raise InputError(f"algorithm {algorithm!r} does not apply to {op.value} on this "
                             f"group ({n} GPUs, {c.g} per scale-up domain); "
                             f"applicable: {', '.join(names)}")
        names = (algorithm,)
    extra = _peer_overhead(op, n)
    protocols = _protocols(c)
    best: tuple[float, str, Protocol, alg.Cost] | None = None
    for name in names:
        cost = _cost(op, name, size_bytes, c)
        t, proto = _best_protocol(name, cost, protocols)
        if best is None or t < best[0]:
            best = (t, name, proto, cost)
    assert best is not None
    return _estimate(op, size_bytes, group, c, best, extra)


def _estimate(
    op: CollectiveOp, s: float, group: CommGroup, c: alg.Ctx,
    best: tuple[float, str, Protocol, alg.Cost], extra_s: float,
) -> CollectiveEstimate:
    t, name, proto, cost = best
    t += extra_s
    scale = 1.0 / proto.bandwidth_frac
    label = "nvls_tree" if name == "nvls" and c.d > 1 else name
    algbw = s / t
    return CollectiveEstimate(
        op=op, size_bytes=s, num_gpus=c.n, algorithm=label, time_s=t,
        algbw_bytes_per_s=algbw, busbw_bytes_per_s=algbw * busbw_factor(op, c.n),
        protocol=proto.name, num_domains=c.d, num_nodes=group.num_nodes,
        base_s=proto.base_s, latency_s=cost[0] * proto.latency_mult + extra_s,
        bandwidth_s=cost[1] * scale, scale_up_bytes=cost[2], scale_out_bytes=cost[3],
        scale_up_time_s=cost[4] * scale, scale_out_time_s=cost[5] * scale,
    )
