"""Memory per GPU: weights, gradients, optimizer state, activations, runtime overhead.

- Weights in BF16 (2 B/param), gradient buffer in BF16 (Megatron-Core DDP with
  ``grad_reduce_in_fp32=False``), Adam state in FP32 (master copy + two moments, 12 B/param).
  ZeRO-1 (Megatron's distributed optimizer) shards the optimizer state over the ranks that
  hold the same weights (DP×CP for dense, expert-DP for experts); ZeRO-2 also the gradients;
  ZeRO-3/FSDP also the weights (plus two layers gathered at a time).
- Activations: :mod:`gputwin.perf.activations` (tensor by tensor, after Korthikanti et al.
  2022, with selective, full or block recomputation and layers offloaded to the host), plus
  one layer's working set while a fully recomputed layer runs again.
- Pipelines are modelled rank by rank (``stage_memory``): each rank's layers (balanced
  stages give the first and last fewer), its embedding or output layer, and the chunks it
  holds at its peak under Megatron-Core's schedule: ``min(m, p - r)`` micro-batches for
  1F1B, ``min(m·v, 2(p - r - 1) + (v - 1)p + 1)`` chunks of ``1/v`` of its layers when
  interleaved. Sent stage outputs are freed (``deallocate_pipeline_outputs``); the last
  rank holds the fp32 logits of one micro-batch. The peak is the largest rank.
- ``offload_optimizer`` keeps Adam's state on the host (DeepSpeed/Megatron CPU offload).
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.perf.activations import (
    activations_per_microbatch,
    host_layer_bytes,
    module_offload_bytes,
    working_set_bytes,
)
from gputwin.perf.calibration import Calibration
from gputwin.perf.flops import LayerShape, embedding_params, layer_shapes
from gputwin.perf.plan import Plan

WEIGHT_BYTES = 2.0
GRAD_BYTES = 2.0  # BF16 gradient buffer; 4 B with ``main_grads_fp32``
OPTIMIZER_BYTES = 12.0  # FP32 master copy and two FP32 moments; 8 B with BF16 moments



@dataclass(frozen=True, slots=True)
class MemoryBreakdown:
    """Bytes on one GPU (of a given pipeline stage), by what holds them."""

    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    other_bytes: float
    #: Activations waiting in host memory at the peak (offloaded; not in the total).
    host_activations_bytes: float = 0.0

    @property
    def total_bytes(self) -> float:
        return (self.weights_bytes + self.gradients_bytes + self.optimizer_bytes
                + self.activations_bytes + self.other_bytes)


@dataclass(frozen=True, slots=True)
class LocalParams:
    """Parameters held by one GPU of a stage: dense (replicated over DP×CP) and expert."""

    dense: float
    expert: float

    @property
    def total(self) -> float:
        return self.dense + self.expert


def _shape_params(shape: LayerShape, plan: Plan) -> LocalParams:
    dense = float(shape.norm_params)
    expert = 0.0
    for g in shape.gemms:
        if g.expert:
            expert += g.params / (plan.ep * plan.tp)
        else:
            dense += g.params / (plan.tp if g.tp_split else 1)
    return LocalParams(dense, expert)


def stage_params(plan: Plan, *, first: bool, last: bool,
                 layers: float | None = None) -> LocalParams:
    """Parameters on one GPU of a stage of ``layers`` layers (default: the busiest), with
    the embedding on the first stage and the output layer on the last."""
    a = plan.arch
    dense = expert = 0.0
    per_stage = plan.layers_per_stage if layers is None else layers
    for shape, n in layer_shapes(a):
        p = _shape_params(shape, plan)
        dense += p.dense * per_stage * n / a.num_layers
        expert += p.expert * per_stage * n / a.num_layers
    emb, out = embedding_params(a)
    if first:
        dense += emb / plan.tp
    if last:
        dense += (out or (emb if plan.pp > 1 else 0)) / plan.tp + a.hidden_size
    return LocalParams(dense, expert)


def held_chunks(plan: Plan, rank: int) -> int:
    """Micro-batch chunks whose activations pipeline ``rank`` holds at its peak.

    Megatron-Core's warm-up: 1F1B runs ``p - r - 1`` forwards before its first backward,
    the interleaved schedule ``2(p - r - 1) + (v - 1)·p`` chunk forwards; one more is in
    flight in the steady state; neither can exceed the step's ``m·v`` chunks. DualPipe
    holds ``p + 1`` on every rank (DeepSeek-V3 report, Table 2).
    """
    p, v, m = plan.pp, plan.interleave, plan.num_microbatches
    if plan.pipeline_schedule == "dualpipe":  # DeepSeek-V3 report Table 2: PP + 1 per device
        return min(m, p + 1)
    warmup = (p - rank - 1) if v == 1 else 2 * (p - rank - 1) + (v - 1) * p
    return min(m * v, warmup + 1)


def inflight_microbatches(plan: Plan) -> float:
    """Micro-batches' worth of a full stage that the first rank holds at its peak."""
    return held_chunks(plan, 0) / plan.interleave


def logits_bytes(plan: Plan) -> float:
    """The loss's memory for one micro-batch on the last stage: the BF16 logits and the FP32
    softmax Megatron-Core's own loss keeps, or the BF16 logits alone under Transformer
    Engine's fused cross entropy (it writes the gradient over them in the forward pass)."""
    per_logit = 2.0 if plan.fused_cross_entropy else 6.0
    return per_logit * plan.tokens_per_microbatch * plan.arch.vocab_size / plan.tp


def _state_bytes(params: LocalParams, plan: Plan) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes after ZeRO sharding."""
    dense_shard, expert_shard = plan.dp_cp, plan.expert_dp
    z = plan.zero_stage

    def sharded(per_param: float, on: bool) -> float:
        if not on:
            return per_param * params.total
        return per_param * (params.dense / dense_shard + params.expert / expert_shard)

    grad_bytes = 2.0 * GRAD_BYTES if plan.main_grads_fp32 else GRAD_BYTES
    return (sharded(WEIGHT_BYTES, z >= 3), sharded(grad_bytes, z >= 2),
            sharded(OPTIMIZER_BYTES - (4.0 if plan.adam_moments_bf16 else 0.0), z >= 1))


def _state_after_zero(params: LocalParams, plan: Plan,
                      layers: float) -> tuple[float, float, float]:
    weights, grads, opt = _state_bytes(params, plan)
    if plan.zero_stage >= 3:  # two layers' full weights gathered at a time
        weights += 2 * WEIGHT_BYTES * params.total / max(1.0, layers)
    if plan.offload_optimizer:
        opt = 0.0  # Adam state lives on the host
    return weights, grads, opt


def _stage_output_bytes(plan: Plan) -> float:
    """One micro-batch's stage output (the next stage's input), if not freed after sending."""
    if plan.pp == 1 or plan.deallocate_pipeline_outputs:
        return 0.0
    return 2.0 * plan.tokens_per_microbatch * plan.arch.hidden_size / (
        plan.tp if plan.sp else 1)


def stage_memory(plan: Plan, c: Calibration, *, first: bool, last: bool,
                 rank: int | None = None) -> MemoryBreakdown:
    """Peak bytes on one GPU of pipeline ``rank`` (default: the first rank if ``first``,
    else the last). Under DualPipe a rank holds two stages (its own and the mirrored one,
    "two copies of the model parameters", DeepSeek-V3 report §3.2.1): weights and
    gradients count twice; the optimizer state once (assumed shared by the two copies, as
    the report does not say)."""
    rank = (0 if first else plan.pp - 1) if rank is None else rank
    layers = float(plan.stage_layer_counts[rank])
    params = stage_params(plan, first=first, last=last, layers=layers)
    weights, grads, opt = _state_after_zero(params, plan, layers)
    if plan.pipeline_schedule == "dualpipe":  # each rank also holds the mirrored stage
        weights, grads = 2.0 * weights, 2.0 * grads
    chunks = held_chunks(plan, rank)
    per_chunk = activations_per_microbatch(plan, layers / plan.interleave)
    acts = per_chunk * chunks + working_set_bytes(plan) + chunks * _stage_output_bytes(plan)
    # fine-grained offload: the chunk just run still holds its inputs while they copy out
    copying_out = module_offload_bytes(plan, layers / plan.interleave)
    acts += copying_out
    if last:
        acts += logits_bytes(plan)
    other = c.runtime_overhead_bytes + c.fragmentation_frac * (acts + weights + grads)
    host = copying_out * (chunks - 1) + host_layer_bytes(plan)
    return MemoryBreakdown(weights, grads, opt, acts, other, host)


def _peak_ranks(plan: Plan) -> list[int]:
    """Ranks that can hold the peak: the first, the last, and the first rank of each layer
    count in between (held chunks only fall with the rank)."""
    counts = plan.stage_layer_counts
    ranks = [0, plan.pp - 1]
    seen: set[int] = set()
    for rank in range(1, plan.pp - 1):
        if counts[rank] not in seen:
            seen.add(counts[rank])
            ranks.append(rank)
    return ranks


@dataclass(frozen=True, slots=True)
class PlanMemory:
    """A plan's busiest rank (what must fit) and its last pipeline rank (where Megatron-LM
    logs its memory), from one pass over the ranks."""

    peak: MemoryBreakdown
    last_stage: MemoryBreakdown


def plan_memory(plan: Plan, c: Calibration) -> PlanMemory:
    """The largest per-GPU memory over the pipeline ranks, and the last rank's."""
    if plan.pp == 1:
        only = stage_memory(plan, c, first=True, last=True)
        return PlanMemory(only, only)
    last = plan.pp - 1
    stages = {r: stage_memory(plan, c, first=r == 0, last=r == last, rank=r)
              for r in _peak_ranks(plan)}
    return PlanMemory(max(stages.values(), key=lambda m: m.total_bytes), stages[last])


def peak_memory(plan: Plan, c: Calibration) -> MemoryBreakdown:
    """The largest per-GPU memory over the pipeline ranks (the single stage when pp = 1)."""
    return plan_memory(plan, c).peak
