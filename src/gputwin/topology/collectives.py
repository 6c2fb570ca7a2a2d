"""Collective communication cost model (PLACEHOLDER: being rewritten; keep the API).

Public API (stable, used by perf/ and the CLI):

- ``CollectiveOp``: all_reduce, all_gather, reduce_scatter, all_to_all, send_recv.
- ``CommGroup``: who communicates and over which links.
- ``group_for_ranks(hw, group_size, rank_stride, num_leaves_spanned=None)``.
- ``collective_time(op, size_bytes, group, algorithm="auto") -> CollectiveEstimate``.

``size_bytes`` follows nccl-tests: the full buffer of the collective (the all-reduce
buffer; the *output* of all-gather; the *input* of reduce-scatter; the total per-rank
buffer of all-to-all; the message of send/recv).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gputwin.topology.hardware import HardwareSpec


class CollectiveOp(StrEnum):
    ALL_REDUCE = "all_reduce"
    ALL_GATHER = "all_gather"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_TO_ALL = "all_to_all"
    SEND_RECV = "send_recv"


@dataclass(frozen=True, slots=True)
class LinkLevel:
    """One level of the hierarchy as seen by one GPU (bandwidth per direction)."""

    bandwidth_bytes_per_s: float
    latency_s: float
    efficiency_frac: float
    in_network_reduction: bool = False
    in_network_efficiency_frac: float | None = None


@dataclass(frozen=True, slots=True)
class CommGroup:
    """A communicator: ``num_gpus`` members, ``gpus_per_domain`` of them per scale-up domain."""

    num_gpus: int
    gpus_per_domain: int
    scale_up: LinkLevel | None
    scale_out: LinkLevel | None

    @property
    def num_domains(self) -> int:
        return max(1, -(-self.num_gpus // self.gpus_per_domain))


@dataclass(frozen=True, slots=True)
class CollectiveEstimate:
    op: CollectiveOp
    size_bytes: float
    num_gpus: int
    algorithm: str
    time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float


def group_for_ranks(
    hw: HardwareSpec, group_size: int, rank_stride: int, num_leaves_spanned: int | None = None
) -> CommGroup:
    """Communicator of ``group_size`` ranks ``r, r+stride, ...`` with ranks packed onto nodes."""
    domain = hw.scale_up_domain_size
    per_domain = 1 if rank_stride >= domain else max(1, min(group_size, domain // rank_stride))
    up = hw.scale_up_fabric
    out = hw.scale_out_fabric
    return CommGroup(
        num_gpus=group_size,
        gpus_per_domain=per_domain,
        scale_up=LinkLevel(hw.accelerator.scale_up_bandwidth_bytes_per_s, up.latency_s,
                           up.efficiency_frac) if up else None,
        scale_out=LinkLevel(hw.scale_out_bandwidth_per_gpu_bytes_per_s, out.latency_s,
                            out.efficiency_frac),
    )


def collective_time(
    op: CollectiveOp, size_bytes: float, group: CommGroup, algorithm: str = "auto"
) -> CollectiveEstimate:
    """Placeholder flat ring model."""
    n = group.num_gpus
    if n <= 1:
        return CollectiveEstimate(op, size_bytes, n, "none", 0.0, float("inf"), float("inf"))
    level = group.scale_out if group.num_domains > 1 else group.scale_up
    assert level is not None
    factor = {"all_reduce": 2 * (n - 1) / n, "all_gather": (n - 1) / n,
              "reduce_scatter": (n - 1) / n, "all_to_all": (n - 1) / n, "send_recv": 1.0}[op]
    bw = level.bandwidth_bytes_per_s * level.efficiency_frac
    t = level.latency_s * (n - 1) + size_bytes * factor / bw
    return CollectiveEstimate(op, size_bytes, n, "ring", t, size_bytes / t, size_bytes * factor / t)
