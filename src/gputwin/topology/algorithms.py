"""Alpha-beta costs of collective algorithms on a two-level hierarchy.

Every function takes the buffer size ``s`` (bytes, nccl-tests convention) and a
:class:`Ctx` of plain floats, and returns a :data:`Cost` for a *unit* protocol:
``(latency_s, bandwidth_s, up_bytes, out_bytes, up_s, out_s)``. The caller scales the
latency by the protocol's latency multiplier and the bandwidth terms by its bandwidth
share. ``up_bytes``/``out_bytes`` are bytes one GPU sends over the scale-up link / its
share of the NICs; ``up_s``/``out_s`` the time those take on their own.
Equations are derived in docs/collectives.md.
"""

from __future__ import annotations

import math

from gputwin.errors import InputError
from gputwin.topology.comm_types import CommGroup
from gputwin.topology.protocol import (
    NVLS_SWITCH_REF_GPUS,
    NVLS_TREE_EFFICIENCY_FRAC,
    TREE_EFFICIENCY_FRAC,
)
from gputwin.topology.scale_up import torus_all_to_all

Cost = tuple[float, float, float, float, float, float]
INF = math.inf


class Ctx:
    """The group reduced to plain numbers (effective bandwidths in bytes/s)."""

    __slots__ = ("ao", "au", "bo", "bu", "bx", "d", "g", "ll128_base", "n", "nvls", "sharp",
                 "torus", "twisted")

    def __init__(self, group: CommGroup) -> None:
        n = group.num_gpus
        self.n = n
        self.g = g = max(1, min(group.gpus_per_domain, n))
        self.d = d = -(-n // g)
        up, out = group.scale_up, group.scale_out
        if d > 1 and out is None:
            raise InputError(f"a group of {n} GPUs spans {d} scale-up domains but has no "
                             "scale-out network")
        fallback = up or out
        self.bu = up.effective_bytes_per_s if up else (
            fallback.effective_bytes_per_s if fallback else INF)
        self.au = fallback.latency_s if fallback else 0.0
        self.bo = out.effective_bytes_per_s if out else INF
        self.ao = out.latency_s if out else 0.0
        self.bx = (up.bisection_bytes_per_s if up and up.bisection_bytes_per_s else INF)
        self.ll128_base = up.ll128_base_s if up else None
        self.nvls = 0.0
        if up and up.in_network_reduction and up.in_network_efficiency_frac:
            self.nvls = up.bandwidth_bytes_per_s * up.in_network_efficiency_frac
        self.sharp = 0.0
        if out and out.in_network_reduction and out.in_network_efficiency_frac:
            self.sharp = out.bandwidth_bytes_per_s * out.in_network_efficiency_frac
        self.torus = group.torus_dims
        self.twisted = group.torus_twisted


def _tree_fanout(d: int) -> float:
    """Bytes per byte of buffer a node's NICs carry per direction in a double binary tree.

    Two nodes just exchange halves (1x); beyond that the interior node of one tree
    receives from two children and forwards (2x).
    """
    return 1.0 if d <= 2 else 2.0


def ring(s: float, c: Ctx, passes: int) -> Cost:
    """Ring over all ranks; ``passes`` = 2 for all-reduce, 1 for all-gather/reduce-scatter."""
    n, g, d = c.n, c.g, c.d
    wire = passes * (n - 1) / n * s
    if d == 1:
        steps = sum(k - 1 for k in c.torus) if c.torus else n - 1
        t = wire / c.bu
        return passes * steps * c.au, t, wire, 0.0, t, 0.0
    b_up = c.bu if g > 1 else INF
    b_net = g * c.bo
    hop = ((n - d) * c.au + d * c.ao) / n
    up_t = wire / b_up if g > 1 else 0.0
    out_t = wire / b_net
    return (passes * (n - 1) * hop, wire / min(b_up, b_net),
            wire if g > 1 else 0.0, wire / g, up_t, out_t)


def pipeline(s: float, c: Ctx) -> Cost:
    """Ring pipeline of broadcast/reduce: every GPU forwards the whole buffer once."""
    n, g, d = c.n, c.g, c.d
    if d == 1:
        t = s / c.bu
        return (n - 1) * c.au, t, s, 0.0, t, 0.0
    b_up = c.bu if g > 1 else INF
    b_net = g * c.bo
    hop = ((n - d) * c.au + d * c.ao) / n
    return ((n - 1) * hop, s / min(b_up, b_net), s if g > 1 else 0.0, s / g,
            s / b_up if g > 1 else 0.0, s / b_net)


def tree(s: float, c: Ctx) -> Cost:
    """All-reduce: chain inside each domain, double binary tree across domains."""
    g, d = c.g, c.d
    depth = math.ceil(math.log2(d)) if d > 1 else 0
    lat = 2.0 * ((g - 1) * c.au + depth * c.ao)
    b_up = c.bu if g > 1 else INF
    b_net = g * c.bo / _tree_fanout(d) if d > 1 else INF
    algbw = TREE_EFFICIENCY_FRAC * min(b_up, b_net)
    up_t = s / (TREE_EFFICIENCY_FRAC * b_up) if g > 1 else 0.0
    out_t = s / (TREE_EFFICIENCY_FRAC * b_net) if d > 1 else 0.0
    return lat, s / algbw, s if g > 1 else 0.0, s * _tree_fanout(d) / g if d > 1 else 0.0, \
        up_t, out_t


def nvls_algbw(bw: float, g: int) -> float:
    """NVLS algbw of ``g`` GPUs: wire-limited (g/(g+1)) or switch-limited (flat busbw)."""
    r = NVLS_SWITCH_REF_GPUS
    return bw * min(g / (g + 1), (r - 1) / (r + 1) * g / (g - 1))


def nvls(s: float, c: Ctx) -> Cost:
    """All-reduce with in-switch reduction (NVLS); NVLSTree across domains."""
    g, d = c.g, c.d
    if c.nvls <= 0.0 or g < 2:
        raise InputError("algorithm 'nvls' needs a scale-up switch with in-network reduction "
                         "(NVLink SHARP, NVSwitch gen 3+) and >= 2 GPUs per domain")
    wire = s * (g + 1) / g
    intra = nvls_algbw(c.nvls, g)
    if d == 1:
        t = s / intra
        return 2.0 * c.au, t, wire, 0.0, t, 0.0
    depth = math.ceil(math.log2(d))
    b_net = g * c.bo / _tree_fanout(d)
    up_t = s / (NVLS_TREE_EFFICIENCY_FRAC * intra)
    out_t = s / b_net
    return (2.0 * (c.au + depth * c.ao), max(up_t, out_t), wire,
            s * _tree_fanout(d) / g, up_t, out_t)


def hierarchical(s: float, c: Ctx, all_reduce: bool) -> Cost:
    """Reduce-scatter in the domain, all-reduce (or all-gather) across domains per rail,
    all-gather back; phases run one after another."""
    n, g, d = c.n, c.g, c.d
    intra_bytes = (g - 1) / g * s
    if all_reduce:
        chunk = s / g
        ring_t = 2.0 * (d - 1) / d * chunk / c.bo
        ring_lat = 2.0 * (d - 1) * c.ao
        out_bytes = 2.0 * (d - 1) / d * chunk
        if c.sharp > 0.0 and chunk / c.sharp + 2.0 * c.ao < ring_t + ring_lat:
            ring_t, ring_lat, out_bytes = chunk / c.sharp, 2.0 * c.ao, chunk
        up_t = 2.0 * intra_bytes / c.bu
        lat = 2.0 * (g - 1) * c.au + ring_lat
        return lat, up_t + ring_t, 2.0 * intra_bytes, out_bytes, up_t, ring_t
    out_bytes = (d - 1) / n * s
    out_t = out_bytes / c.bo
    up_t = intra_bytes / c.bu
    return (g - 1) * c.au + (d - 1) * c.ao, up_t + out_t, intra_bytes, out_bytes, up_t, out_t


def bisection_s(s: float, c: Ctx) -> float:
    """Seconds the domain's halves need to swap their all-to-all share across the bisection.

    The ``g`` members of a domain sit ``floor(g/2)`` and ``ceil(g/2)`` on either side
    (sockets or switch trees of a PCIe server); each sends ``s/n`` to every peer on the
    other side, ``floor(g/2)·ceil(g/2)·s/n`` per direction over ``c.bx``. 0 without a bound.
    """
    g = c.g
    if g < 2 or c.bx == INF:
        return 0.0
    return (g // 2) * (g - g // 2) * s / c.n / c.bx


def all_to_all(s: float, c: Ctx) -> Cost:
    """Direct all-to-all: S/n to every peer; NIC traffic is not aggregated across rails;
    on a host-routed domain the halves' link (:func:`bisection_s`) can bind."""
    n, g, d = c.n, c.g, c.d
    if d == 1 and c.torus:
        # Bound by the busiest links: torus_all_to_all (scale_up) gives the hop counts.
        route, load = torus_all_to_all(c.torus, c.twisted)
        bytes_ = (n - 1) / n * s
        t = bytes_ * max(1.0, load) / c.bu
        return c.au * max(1.0, route), t, bytes_, 0.0, t, 0.0
    up_bytes = (g - 1) / n * s
    out_bytes = (n - g) / n * s
    up_t = max(up_bytes / c.bu, bisection_s(s, c)) if g > 1 else 0.0
    out_t = out_bytes / c.bo if d > 1 else 0.0
    lat = (c.au if g > 1 else 0.0) + (c.ao if d > 1 else 0.0)
    return lat, max(up_t, out_t), up_bytes, out_bytes, up_t, out_t


def send_recv(s: float, c: Ctx) -> Cost:
    """One message between the two ends of the group (same domain or across the NICs)."""
    if c.d == 1:
        t = s / c.bu
        return c.au, t, s, 0.0, t, 0.0
    t = s / c.bo
    return c.ao, t, 0.0, s, 0.0, t
