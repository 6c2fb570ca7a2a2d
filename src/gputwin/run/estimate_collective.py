"""Facade for ``gputwin estimate collective`` and the validation suite.

Resolves catalog names into hardware, places ``num_gpus`` ranks (stride ``rank_stride``)
and returns the :class:`CollectiveEstimate` of the collective model.
"""

from __future__ import annotations

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.errors import InputError
from gputwin.perf.split import cli_flag
from gputwin.requests import CollectiveRequest
from gputwin.topology.collectives import (
    ALGORITHMS,
    CollectiveEstimate,
    CollectiveOp,
    collective_time,
    group_for_ranks,
)
from gputwin.topology.hardware import NetworkTopology, resolve_hardware


def collective_flag(field: str) -> str:
    """The ``estimate collective`` option of a :class:`CollectiveRequest` field."""
    return "--size" if field == "size_bytes" else cli_flag(field)


def _op(request: CollectiveRequest) -> CollectiveOp:
    try:
        parsed = CollectiveOp(request.op)
    except ValueError:
        raise InputError(f"unknown collective {request.op!r}; expected one of "
                         f"{', '.join(o.value for o in CollectiveOp)}", where="--op") from None
    if request.algorithm != "auto" and request.algorithm not in ALGORITHMS:
        raise InputError(f"unknown algorithm {request.algorithm!r}; expected auto or one of "
                         f"{', '.join(ALGORITHMS)}", where="--algorithm")
    return parsed


def estimate_collective(request: CollectiveRequest, *,
                        catalog: Catalog | None = None) -> CollectiveEstimate:
    """Time of one collective among ``num_gpus`` ranks ``0, stride, 2*stride, ...``.

    Ranks are packed onto nodes in order; only the group's members are active, so a
    member uses the NICs local to it (``rank_stride=8`` on 8-GPU nodes = one GPU per node,
    as nccl-tests with ``-g 1`` on one rank per node). ``size_bytes`` follows nccl-tests.
    Raises :class:`InputError` (naming the option) for bad input or unknown names.
    """
    parsed = _op(request)
    network = NetworkTopology(kind=request.topology, nodes_per_leaf=request.nodes_per_leaf,
                              oversubscription=request.oversubscription)
    hw = resolve_hardware(catalog or default_catalog(), gpu=request.gpu, system=request.system,
                          fabric=request.fabric, network=network, where=cli_flag)
    gpn, stride = hw.gpus_per_node, request.rank_stride
    active = 1 if stride >= gpn else min(request.num_gpus, gpn // stride)
    group = group_for_ranks(hw, request.num_gpus, stride, active_gpus_per_node=active)
    return collective_time(parsed, request.size_bytes, group, request.algorithm)
