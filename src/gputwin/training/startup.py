"""Start-up time of a training job: loading its model/checkpoint from the storage tier.

Every job loads the model's weights in bf16 (2 bytes per parameter; a pre-training job
resumes from its latest checkpoint, a fine-tune starts from the base model). A node reads
the shard its GPUs hold: a tensor×pipeline-parallel group of ``tp·pp`` GPUs holds one full
copy, so a node with ``g`` of the job's GPUs reads ``min(1, g / (tp·pp))`` of the weights.
Time = the larger of (slowest node's bytes / per-node read bandwidth) and (all bytes /
the tier's aggregate read bandwidth), plus the tier latency. No tier → 0.
"""

from __future__ import annotations

from gputwin.catalog.model_math import total_params
from gputwin.catalog.schema import ModelSpec, StorageTier
from gputwin.cluster.ledger import Placement

CHECKPOINT_BYTES_PER_PARAM = 2.0  # bf16 weights


def weights_bytes(model: ModelSpec) -> float:
    """Bytes of the model's weights in bf16."""
    return CHECKPOINT_BYTES_PER_PARAM * total_params(model)


def load_time_s(
    model_bytes: float, shard_gpus: int, placement: Placement, tier: StorageTier | None
) -> float:
    """Seconds to read the weights onto every node of ``placement``.

    ``shard_gpus`` = GPUs that together hold one copy (tp·pp). Pure function.
    """
    if tier is None or model_bytes <= 0:
        return 0.0
    per_node = [model_bytes * min(1.0, g / max(1, shard_gpus)) for g in placement.gpus]
    node_time = max(per_node) / tier.read_bandwidth_bytes_per_s_per_node
    aggregate = tier.aggregate_read_bandwidth_bytes_per_s
    cluster_time = sum(per_node) / aggregate if aggregate else 0.0
    return max(node_time, cluster_time) + tier.latency_s
