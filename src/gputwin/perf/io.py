"""Storage I/O of training: reading training data and writing checkpoints.

- Data: token ids (4 B each; inputs and labels come from the same sequence) read by every
  node for its share of the global batch, prefetched by data-loader workers, so only the
  part longer than a step is exposed (normally nothing).
- Checkpoint: BF16 weights + FP32 master weights + two Adam moments (14 B/param), written by
  all nodes in parallel; bandwidth = min(nodes × per-node write, tier aggregate). Treated as
  blocking (synchronous save) and amortised over ``checkpoint_interval_s`` of training.
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.catalog.schema import StorageTier

TOKEN_BYTES = 4.0
CHECKPOINT_BYTES_PER_PARAM = 14.0


@dataclass(frozen=True, slots=True)
class IoEstimate:
    """Per-step data read time, exposed part, and one checkpoint's write time (seconds)."""

    data_read_s: float
    data_exposed_s: float
    checkpoint_bytes: float
    checkpoint_write_s: float


def io_estimate(storage: StorageTier | None, *, tokens_per_step: float, num_nodes: int,
                total_params: float, compute_step_s: float) -> IoEstimate:
    """I/O of one step and of one checkpoint; zero when no storage tier is given."""
    ckpt_bytes = CHECKPOINT_BYTES_PER_PARAM * total_params
    if storage is None:
        return IoEstimate(0.0, 0.0, ckpt_bytes, 0.0)
    per_node = TOKEN_BYTES * tokens_per_step / num_nodes
    read_bw = storage.read_bandwidth_bytes_per_s_per_node
    if storage.aggregate_read_bandwidth_bytes_per_s:
        read_bw = min(read_bw, storage.aggregate_read_bandwidth_bytes_per_s / num_nodes)
    read_s = per_node / read_bw + storage.latency_s
    write_bw = num_nodes * storage.write_bandwidth_bytes_per_s_per_node
    if storage.aggregate_write_bandwidth_bytes_per_s:
        write_bw = min(write_bw, storage.aggregate_write_bandwidth_bytes_per_s)
    return IoEstimate(read_s, max(0.0, read_s - compute_step_s), ckpt_bytes,
                      ckpt_bytes / write_bw + storage.latency_s)
