"""The scale-up link as one member of a communicator sees it, by domain topology.

How much of an accelerator's scale-up bandwidth a collective can use depends on how the
domain is wired and on how many of the domain's accelerators the group holds:

- ``switched`` (NVSwitch, NVL72): every accelerator reaches every other through the switch
  at its full per-accelerator bandwidth, whatever the group size.
- ``mesh`` (AMD Infinity Fabric on an 8-GPU UBB, Gaudi's on-board RoCE all-to-all): one
  dedicated link bundle to each of the ``D-1`` peers, ``B/(D-1)`` each. A group of ``g``
  members reaches its ``g-1`` peers over ``g-1`` bundles (RCCL/HCCL run one ring per link
  set), so it uses ``(g-1)/(D-1)`` of the total: TP 2 on an MI300X gets one 64 GB/s link.
- ``torus2d`` / ``torus3d`` (TPU ICI, Trainium NeuronLink): a member's traffic moves over the
  links along the dimensions its sub-torus spans, two links per dimension with wrap-around
  (size > 2), one for a dimension of 2 (both neighbours are the same chip). Bidirectional
  rings over all spanned dimensions at once use all of them. An all-to-all is bound by its
  busiest link (:func:`torus_all_to_all`): on a cube every link carries the same load, on an
  ``n x n x 2n`` torus the long dimension's links carry twice the others', unless the slice is
  wired as a twisted torus (an optical circuit-switched pod's option), which evens them out.
- ``pcie``: no scale-up link; peers exchange data over each card's PCIe slot (x16 per
  direction, the fabric's link rate) through the host's root complex or PCIe switches.
  A system with a ``pair_bridge_fabric`` (NVLink bridge) uses it for a group of two
  adjacent ranks (one bridged pair).
- ``none``: no scale-up path; every peer is reached over the NICs.

The result never exceeds the accelerator's own scale-up bandwidth.
"""

from __future__ import annotations

import collections
import functools
import itertools

from gputwin.catalog.schema import Fabric
from gputwin.topology.comm_types import LinkLevel
from gputwin.topology.hardware import HardwareSpec

TORUS_DIMS = {"torus2d": 2, "torus3d": 3}


@functools.lru_cache(maxsize=1024)
def torus_shape(num_chips: int, max_dims: int = 3) -> tuple[int, ...]:
    """A near-cubic factorisation of ``num_chips`` into at most ``max_dims`` sides."""
    if num_chips <= 1:
        return ()
    dims: list[int] = []
    rest = num_chips
    for left in range(max_dims, 0, -1):
        if left == 1:
            dims.append(rest)
            break
        target = round(rest ** (1.0 / left))
        side = next((s for s in range(max(target, 1), rest + 1) if rest % s == 0), rest)
        dims.append(side)
        rest //= side
        if rest == 1:
            break
    return tuple(sorted((d for d in dims if d > 1), reverse=True))


@functools.lru_cache(maxsize=1024)
def slice_torus_shape(num_chips: int, block: tuple[int, int, int]) -> tuple[int, ...]:
    """Shape of a 3D-torus slice of ``num_chips`` on a machine built of ``block``-shaped
    electrical blocks (TPU v4/v5p: 4x4x4, the catalog's ``torus_block``): a whole number of
    blocks is the blocks arranged near-cubically (one block: the block; 192 chips ->
    12x4x4, not the 8x6x4 whole cubes cannot form); otherwise :func:`torus_shape`."""
    per_block = block[0] * block[1] * block[2]
    if num_chips < per_block or num_chips % per_block:
        return torus_shape(num_chips, 3)
    arrangement = (*torus_shape(num_chips // per_block, 3), 1, 1, 1)[:3]
    sides = (b * a for b, a in zip(block, arrangement, strict=True))
    return tuple(sorted((k for k in sides if k > 1), reverse=True))  # as torus_shape: no 1s


def torus_links(dims: tuple[int, ...]) -> int:
    """Links per chip a sub-torus of shape ``dims`` uses: 2 per dimension, 1 if its size is 2."""
    return sum(2 if k > 2 else 1 for k in dims)


def twistable(dims: tuple[int, ...]) -> bool:
    """A 3D shape that can be wired as a twisted torus: ``n x n x 2n`` or ``n x 2n x 2n``
    with ``n`` a multiple of 4 (whole 4x4x4 blocks; Google Cloud TPU v4 documentation,
    "Twisted tori topologies"; Jouppi et al., ISCA 2023)."""
    if len(dims) != 3:
        return False
    a, b, c = sorted(dims)
    return a >= 4 and a % 4 == 0 and c == 2 * a and b in (a, 2 * a)


def _twist_offsets(dims: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Where each dimension's wrap-around link lands in a twisted torus: the short
    dimensions' wrap links shift by ``n`` along each long (``2n``) dimension."""
    n = min(dims)
    x, y, z = (n if k == 2 * n else 0 for k in dims)
    return [(x, y, z) if k == n else (0, 0, 0) for k in dims]


@functools.lru_cache(maxsize=256)
def twisted_mean_hops(dims: tuple[int, int, int]) -> float:
    """Mean shortest-path length from a chip to every chip (itself included) of a twisted
    torus of ``dims`` (breadth-first search; the graph is vertex-transitive, so one
    source gives the mean)."""
    offsets = _twist_offsets(dims)
    dist = {(0, 0, 0): 0}
    queue = collections.deque([(0, 0, 0)])
    while queue:
        node = queue.popleft()
        for axis, step in itertools.product(range(3), (1, -1)):
            nxt = list(node)
            nxt[axis] += step
            if not 0 <= nxt[axis] < dims[axis]:
                nxt[axis] %= dims[axis]
                for b in range(3):
                    nxt[b] = (nxt[b] + step * offsets[axis][b]) % dims[b]
            key = (nxt[0], nxt[1], nxt[2])
            if key not in dist:
                dist[key] = dist[node] + 1
                queue.append(key)
    return sum(dist.values()) / len(dist)


def _ring_mean_hops(k: int) -> float:
    """Mean distance from a member of a bidirectional ring of ``k`` to every member."""
    return k / 4.0 if k % 2 == 0 else (k * k - 1) / (4.0 * k)


def torus_all_to_all(dims: tuple[int, ...], twisted: bool = False) -> tuple[float, float]:
    """``(route_hops, load_hops)`` of a uniform all-to-all on a torus of ``dims``.

    ``route_hops`` is the mean route length (for latency). ``load_hops`` is what sets the
    time: ``bytes x load_hops / (all links' bandwidth)``. With traffic spread over minimal
    routes, a dimension of size ``k`` carries ``mean_hops(k)`` per byte on its
    ``links(k)`` links, so the busiest dimension binds:
    ``load_hops = links x max_d(mean_hops(k_d) / links(k_d))``, the mean route length on a
    cube and 1.5x it on ``n x n x 2n``. A twisted torus (:func:`twistable` shapes only)
    loads every link alike, so its ``load_hops`` is its own, shorter, mean route length."""
    if not dims:
        return 0.0, 0.0
    if twisted and twistable(dims):
        hops = twisted_mean_hops((dims[0], dims[1], dims[2]))
        return hops, hops
    route = sum(_ring_mean_hops(k) for k in dims)
    links = torus_links(dims)
    busiest = max(_ring_mean_hops(k) / (2 if k > 2 else 1) for k in dims)
    return route, links * busiest


def group_torus_dims(hw: HardwareSpec, members_per_domain: int) -> tuple[int, ...]:
    """Shape of the members' sub-torus (empty unless the domain is a torus)."""
    max_dims = TORUS_DIMS.get(hw.system.scale_up_topology)
    if max_dims is None or members_per_domain <= 1:
        return ()
    block = hw.system.torus_block
    if block is not None:
        return slice_torus_shape(members_per_domain, block)
    return torus_shape(members_per_domain, max_dims)


def _link(hw: HardwareSpec, members_per_domain: int, stride: int) -> tuple[float, Fabric] | None:
    """(per-direction bandwidth one member uses, fabric that carries it), or ``None``."""
    fabric = hw.scale_up_fabric
    topo = hw.system.scale_up_topology
    if fabric is None or topo == "none":
        return None
    if topo == "pcie":
        bridge = hw.pair_bridge_fabric
        if bridge is not None and members_per_domain == 2 and stride == 1:
            return bridge.link_bandwidth_bytes_per_s, bridge
        return fabric.link_bandwidth_bytes_per_s, fabric
    total = hw.accelerator.scale_up_bandwidth_bytes_per_s
    if total <= 0.0:
        return None
    if topo == "mesh":
        peers = max(1, hw.scale_up_domain_size - 1)
        used = max(1, min(members_per_domain - 1, peers))
        return total * used / peers, fabric
    if topo in TORUS_DIMS:
        links = max(1, torus_links(group_torus_dims(hw, members_per_domain)))
        return min(total, fabric.link_bandwidth_bytes_per_s * links), fabric
    return total, fabric


def scale_up_bandwidth_bytes_per_s(hw: HardwareSpec, members_per_domain: int,
                                   stride: int = 1) -> float:
    """Per-direction scale-up bandwidth one member uses in a group with ``members_per_domain``
    members in its domain, ranks ``stride`` apart (0 when there is no scale-up path)."""
    link = _link(hw, members_per_domain, stride)
    return link[0] if link else 0.0


def scale_up_level(hw: HardwareSpec, members_per_domain: int,
                   stride: int = 1) -> LinkLevel | None:
    """The scale-up :class:`LinkLevel` of a group member, or ``None`` without one."""
    link = _link(hw, members_per_domain, stride)
    if link is None:
        return None
    bw, fabric = link
    return LinkLevel(bw, fabric.latency_s, fabric.efficiency_frac,
                     fabric.in_network_reduction, fabric.in_network_efficiency_frac,
                     fabric.bisection_bytes_per_s, fabric.ll128_base_s)
