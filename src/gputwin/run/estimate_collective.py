"""Facade for ``gputwin estimate collective`` and the validation suite.

Resolves catalog names into hardware, places ``num_gpus`` ranks (stride ``rank_stride``)
and returns the :class:`CollectiveEstimate` of the collective model.
"""

from __future__ import annotations

import math

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.errors import InputError
from gputwin.topology.collectives import (
    ALGORITHMS,
    CollectiveEstimate,
    CollectiveOp,
    collective_time,
    group_for_ranks,
)
from gputwin.topology.hardware import NetworkTopology, TopologyKind, resolve_hardware

TOPOLOGIES: tuple[TopologyKind, ...] = ("single_node", "rail_optimized", "fat_tree")


def _check_inputs(op: str, size_bytes: float, num_gpus: int, algorithm: str, topology: str,
                  rank_stride: int) -> CollectiveOp:
    try:
        parsed = CollectiveOp(op)
    except ValueError:
        raise InputError(f"--op: unknown collective {op!r}; expected one of "
                         f"{', '.join(o.value for o in CollectiveOp)}") from None
    if isinstance(size_bytes, bool) or not math.isfinite(size_bytes) or size_bytes <= 0:
        raise InputError(f"--size: expected a positive size in bytes, got {size_bytes!r}")
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        raise InputError(f"--num-gpus: expected an integer >= 1, got {num_gpus!r}")
    if algorithm != "auto" and algorithm not in ALGORITHMS:
        raise InputError(f"--algorithm: unknown algorithm {algorithm!r}; expected auto or one "
                         f"of {', '.join(ALGORITHMS)}")
    if topology not in TOPOLOGIES:
        raise InputError(f"--topology: unknown topology {topology!r}; expected one of "
                         f"{', '.join(TOPOLOGIES)}")
    if isinstance(rank_stride, bool) or not isinstance(rank_stride, int) or rank_stride < 1:
        raise InputError(f"--rank-stride: expected an integer >= 1, got {rank_stride!r}")
    return parsed


def estimate_collective(
    *,
    op: str,
    size_bytes: float,
    num_gpus: int,
    gpu: str | None = None,
    system: str | None = None,
    fabric: str | None = None,
    algorithm: str = "auto",
    topology: str = "rail_optimized",
    nodes_per_leaf: int = 32,
    oversubscription: float = 1.0,
    rank_stride: int = 1,
    catalog: Catalog | None = None,
) -> CollectiveEstimate:
    """Time of one collective among ``num_gpus`` ranks ``0, stride, 2*stride, ...``.

    Ranks are packed onto nodes in order; only the group's members are active, so a
    member uses the NICs local to it (``rank_stride=8`` on 8-GPU nodes = one GPU per node,
    as nccl-tests with ``-g 1`` on one rank per node). ``size_bytes`` follows nccl-tests.
    Raises :class:`InputError` (naming the option) for bad input or unknown names.
    """
    parsed = _check_inputs(op, size_bytes, num_gpus, algorithm, topology, rank_stride)
    if isinstance(nodes_per_leaf, bool) or not isinstance(nodes_per_leaf, int) \
            or nodes_per_leaf < 1:
        raise InputError(f"--nodes-per-leaf: expected an integer >= 1, got {nodes_per_leaf!r}")
    if not math.isfinite(oversubscription) or oversubscription < 1.0:
        raise InputError(f"--oversubscription: expected a ratio >= 1, got {oversubscription!r}")
    network = NetworkTopology(kind=topology,  # type: ignore[arg-type]
                              nodes_per_leaf=nodes_per_leaf, oversubscription=oversubscription)
    hw = resolve_hardware(catalog or default_catalog(), gpu=gpu, system=system, fabric=fabric,
                          network=network)
    gpn = hw.gpus_per_node
    active = 1 if rank_stride >= gpn else min(num_gpus, gpn // rank_stride)
    group = group_for_ranks(hw, num_gpus, rank_stride, active_gpus_per_node=active)
    return collective_time(parsed, size_bytes, group, algorithm)
