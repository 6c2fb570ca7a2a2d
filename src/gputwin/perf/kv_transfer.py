"""KV-cache hand-off of disaggregated prefill/decode: seconds to ship a request's KV.

Default bandwidth: every GPU holding the request's KV sends its shard over its share of
the node's scale-out NICs (fabric efficiency applied) plus one fabric latency. With
attention data parallelism a request's KV lives on one DP group (``tp × pp`` GPUs), not
on the whole replica. Local-attention layers (window ``W``) hold and ship only the last
``W`` tokens.
"""

from __future__ import annotations

from gputwin.errors import InputError
from gputwin.perf.serving_shapes import ReplicaShape
from gputwin.topology.hardware import HardwareSpec


def kv_transfer_time_s(shape: ReplicaShape, hw: HardwareSpec, tp: int, pp: int,
                       num_tokens: int, bandwidth_bytes_per_s: float | None = None) -> float:
    """Seconds to move the KV of ``num_tokens`` from a prefill to a decode replica of
    ``shape`` on ``hw`` (a ``tp × pp`` group sends it); raises InputError on a
    non-positive bandwidth."""
    if num_tokens <= 0:
        return 0.0
    fabric = hw.scale_out_fabric
    if bandwidth_bytes_per_s is None:
        bandwidth_bytes_per_s = (hw.scale_out_bandwidth_per_gpu_bytes_per_s * tp * pp
                                 * fabric.efficiency_frac)
    if not bandwidth_bytes_per_s > 0:
        raise InputError(f"KV transfer bandwidth must be positive, got {bandwidth_bytes_per_s}")
    kv_bytes = (num_tokens * shape.kv_bytes_per_token_total
                - max(0, num_tokens - shape.attn_window) * shape.local_kv_bytes_per_token_total)
    return fabric.latency_s + kv_bytes / bandwidth_bytes_per_s


__all__ = ["kv_transfer_time_s"]
