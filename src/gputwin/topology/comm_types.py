"""Plain value types of the collective cost model (slots dataclasses, no pydantic).

``size_bytes`` follows nccl-tests: the full buffer of the collective (the all-reduce
buffer; the *output* of all-gather; the *input* of reduce-scatter; the total per-rank
send buffer of all-to-all; the message of send/recv and broadcast/reduce).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class CollectiveOp(StrEnum):
    ALL_REDUCE = "all_reduce"
    ALL_GATHER = "all_gather"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_TO_ALL = "all_to_all"
    SEND_RECV = "send_recv"
    BROADCAST = "broadcast"
    REDUCE = "reduce"


#: nccl-tests bus-bandwidth factor: busbw = algbw * factor(n).
def busbw_factor(op: CollectiveOp, n: int) -> float:
    """nccl-tests convention (doc/PERFORMANCE.md): 2(n-1)/n, (n-1)/n or 1."""
    if n <= 1:
        return 0.0 if op not in (CollectiveOp.SEND_RECV, CollectiveOp.BROADCAST,
                                 CollectiveOp.REDUCE) else 1.0
    if op is CollectiveOp.ALL_REDUCE:
        return 2.0 * (n - 1) / n
    if op in (CollectiveOp.ALL_GATHER, CollectiveOp.REDUCE_SCATTER, CollectiveOp.ALL_TO_ALL):
        return (n - 1) / n
    return 1.0


@dataclass(frozen=True, slots=True)
class LinkLevel:
    """One level of the hierarchy as seen by one GPU (bandwidth per direction).

    ``bandwidth_bytes_per_s`` is the raw bandwidth available to one GPU at this level
    (after NIC sharing and oversubscription); ``efficiency_frac`` the share collectives
    achieve; ``in_network_efficiency_frac`` the share with switch-side reduction;
    ``bisection_bytes_per_s`` the bandwidth per direction between the two halves of a
    host-routed (PCIe) domain, ``None`` where it is no bound.
    """

    bandwidth_bytes_per_s: float
    latency_s: float
    efficiency_frac: float
    in_network_reduction: bool = False
    in_network_efficiency_frac: float | None = None
    bisection_bytes_per_s: float | None = None
    ll128_base_s: float | None = None

    @property
    def effective_bytes_per_s(self) -> float:
        return self.bandwidth_bytes_per_s * self.efficiency_frac


@dataclass(frozen=True, slots=True)
class CommGroup:
    """A communicator: ``num_gpus`` members, ``gpus_per_domain`` of them per scale-up domain.

    ``torus_dims``: shape of the members' sub-torus when the scale-up domain is a torus
    (TPU ICI, NeuronLink); empty for switched/mesh domains; ``torus_twisted``: the torus is
    wired twisted where its shape allows (:func:`~gputwin.topology.scale_up.twistable`).
    ``num_nodes`` and ``num_leaves`` describe the placement (for reports; the bandwidths
    already include their effect).
    """

    num_gpus: int
    gpus_per_domain: int
    scale_up: LinkLevel | None
    scale_out: LinkLevel | None
    num_nodes: int = 1
    num_leaves: int = 1
    torus_dims: tuple[int, ...] = ()
    torus_twisted: bool = False

    @property
    def num_domains(self) -> int:
        return max(1, -(-self.num_gpus // max(1, self.gpus_per_domain)))


@dataclass(frozen=True, slots=True)
class CollectiveEstimate:
    """Time of one collective with nccl-tests bandwidths (``inf`` when nothing moves)."""

    op: CollectiveOp
    size_bytes: float
    num_gpus: int
    algorithm: str
    time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    protocol: str = ""
    num_domains: int = 1
    num_nodes: int = 1
    base_s: float = 0.0
    latency_s: float = 0.0
    bandwidth_s: float = 0.0
    scale_up_bytes: float = 0.0
    scale_out_bytes: float = 0.0
    scale_up_time_s: float = 0.0
    scale_out_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (non-finite bandwidths become ``None``)."""

        def fin(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "op": str(self.op),
            "size_bytes": self.size_bytes,
            "num_gpus": self.num_gpus,
            "num_nodes": self.num_nodes,
            "num_domains": self.num_domains,
            "algorithm": self.algorithm,
            "protocol": self.protocol,
            "time_s": self.time_s,
            "algbw_bytes_per_s": fin(self.algbw_bytes_per_s),
            "busbw_bytes_per_s": fin(self.busbw_bytes_per_s),
            "breakdown": {
                "base_s": self.base_s,
                "latency_s": self.latency_s,
                "bandwidth_s": self.bandwidth_s,
                "scale_up": {"bytes_per_gpu": self.scale_up_bytes,
                             "time_s": self.scale_up_time_s},
                "scale_out": {"bytes_per_gpu": self.scale_out_bytes,
                              "time_s": self.scale_out_time_s},
            },
        }
