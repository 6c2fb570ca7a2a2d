"""Map a parallel group (ranks ``r, r+stride, ...``) onto the hardware.

Ranks are packed onto nodes in order (rank ``k`` lives on node ``k // gpus_per_node``
and in scale-up domain ``k // scale_up_domain_size``). The result is a
:class:`CommGroup`: members per scale-up domain, the scale-up link as one GPU sees it,
and the scale-out link with the GPU's share of its node's NICs.

Assumptions (see docs/collectives.md):

- NIC sharing: the node's NIC bandwidth is shared by the GPUs of the node that
  communicate at the same time (``active_gpus_per_node``, default all of them, as in
  SPMD training where every TP rank runs its own DP all-reduce). One GPU never uses
  more than its local NICs (``num_nics // gpus_per_node``, at least one), as with
  rail-optimised NCCL rings.
- Leaves: when the group spans more than one leaf (rail group) of a fat-tree with
  ``oversubscription > 1``, every GPU's scale-out bandwidth is divided by the
  oversubscription: collectives are paced by the slowest link of the ring/tree, and
  with all GPUs of a leaf talking across it, the uplinks are the bottleneck.
"""

from __future__ import annotations

import math

from gputwin.errors import InputError
from gputwin.topology.comm_types import CommGroup, LinkLevel
from gputwin.topology.hardware import HardwareSpec
from gputwin.topology.scale_up import group_torus_dims, scale_up_level, torus_shape

__all__ = ["group_for_ranks", "scale_out_nic_bytes_per_s", "torus_shape"]


def _members_per_unit(unit: int, group_size: int, stride: int) -> int:
    """Members of the group inside one block of ``unit`` consecutive ranks."""
    if stride >= unit:
        return 1
    return max(1, min(group_size, unit // stride))


def scale_out_nic_bytes_per_s(hw: HardwareSpec) -> float:
    """Per-NIC bandwidth: the system's, or the fabric's when ``--fabric`` overrides it."""
    fabric = hw.scale_out_fabric
    if fabric.name != hw.system.scale_out_fabric:
        return fabric.link_bandwidth_bytes_per_s
    return hw.system.nic_bandwidth_bytes_per_s


def group_for_ranks(
    hw: HardwareSpec,
    group_size: int,
    rank_stride: int,
    num_leaves_spanned: int | None = None,
    active_gpus_per_node: int | None = None,
) -> CommGroup:
    """Communicator of ``group_size`` ranks ``r, r+stride, ...`` with ranks packed onto nodes.

    ``num_leaves_spanned`` overrides the leaf count derived from the placement (the
    simulator passes it for scattered placements). Raises :class:`InputError` for
    non-positive sizes or when a ``single_node`` topology would need a network.
    """
    if group_size < 1 or rank_stride < 1:
        raise InputError(f"group size and rank stride must be >= 1, got {group_size}, "
                         f"{rank_stride}")
    gpn = hw.gpus_per_node
    domain = max(1, hw.scale_up_domain_size)
    per_domain = _members_per_unit(domain, group_size, rank_stride)
    per_node = _members_per_unit(gpn, group_size, rank_stride)
    num_domains = -(-group_size // per_domain)
    span_nodes = -(-((group_size - 1) * rank_stride + 1) // gpn)
    num_nodes = -(-group_size // per_node)

    scale_up = scale_up_level(hw, per_domain, rank_stride)
    torus = group_torus_dims(hw, per_domain)

    scale_out = None
    num_leaves = 1
    needs_network = num_domains > 1
    if hw.network.kind == "single_node":
        if needs_network:
            raise InputError(
                f"topology 'single_node' has no scale-out network, but the group of "
                f"{group_size} GPUs (stride {rank_stride}) spans {num_domains} scale-up "
                f"domains of {domain}")
    elif needs_network or _has_nics(hw):
        scale_out, num_leaves = _scale_out_level(
            hw, span_nodes, num_leaves_spanned, active_gpus_per_node)
    return CommGroup(
        num_gpus=group_size, gpus_per_domain=per_domain, scale_up=scale_up,
        scale_out=scale_out, num_nodes=num_nodes, num_leaves=num_leaves, torus_dims=torus,
    )


def _has_nics(hw: HardwareSpec) -> bool:
    """The node has scale-out NICs (a group inside one scale-up domain needs none)."""
    return hw.system.num_nics > 0 and scale_out_nic_bytes_per_s(hw) > 0


def _scale_out_level(
    hw: HardwareSpec, span_nodes: int, num_leaves_spanned: int | None,
    active_gpus_per_node: int | None,
) -> tuple[LinkLevel, int]:
    sysm = hw.system
    gpn = hw.gpus_per_node
    nic = scale_out_nic_bytes_per_s(hw)
    num_nics = sysm.num_nics
    if not _has_nics(hw):
        raise InputError(f"system {sysm.name!r} has no scale-out NIC; cannot span nodes")
    active = gpn if active_gpus_per_node is None else max(1, min(gpn, active_gpus_per_node))
    local_cap = nic * max(1, num_nics // gpn)
    per_gpu = min(num_nics * nic / active, local_cap)
    net = hw.network
    if num_leaves_spanned is not None:
        if num_leaves_spanned < 1:
            raise InputError(f"num_leaves_spanned must be >= 1, got {num_leaves_spanned}")
        leaves = num_leaves_spanned
    else:
        leaves = max(1, math.ceil(span_nodes / net.nodes_per_leaf))
    if leaves > 1 and net.oversubscription > 1.0:
        per_gpu /= net.oversubscription
    fabric = hw.scale_out_fabric
    level = LinkLevel(per_gpu, fabric.latency_s, fabric.efficiency_frac,
                      fabric.in_network_reduction, fabric.in_network_efficiency_frac)
    return level, leaves
