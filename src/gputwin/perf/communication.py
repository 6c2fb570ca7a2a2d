"""Communication of a training step, and how much of it stays exposed after overlap.

Groups follow Megatron-Core rank order (TP innermost, then CP, then DP with EP carved out of
DP×CP, PP outermost) and are priced with :func:`gputwin.topology.collectives.collective_time`:

- TP, per layer and micro-batch, on ``b·s/cp·h`` BF16 activations: without sequence
  parallelism 2 all-reduces forward + 2 backward; with it 2 all-gathers + 2 reduce-scatters
  each way (same volume). Full recomputation repeats the forward ones.
- CP (ring attention): ``cp-1`` exchanges of the local K/V chunk forward, twice that
  backward (K/V and their gradients), hidden behind the attention compute.
- EP: 2 all-to-alls forward (dispatch, combine) and 2 backward per MoE layer, in BF16
  (the forward dispatch in FP8 with ``ep_dispatch_fp8``, as DeepSeek-V3 §3.3.2; Megatron-
  Core's DeepEP and HybridEP backends dispatch BF16). The ``alltoall`` dispatcher
  (Megatron-Core's default) sends every token's ``top_k`` copies over the EP group. The
  ``deepep``/``hybridep`` dispatchers (DeepEP normal kernels, DeepSeek-V3 report §3.2.2;
  NVIDIA's HybridEP) send a token once to each remote scale-up domain holding any of its
  experts and forward it over NVLink there (:func:`gputwin.perf.wide_ep.forwarded_all_to_all_s`,
  with the model's group-limited routing); inside a domain they send a token once to each
  GPU holding any of its experts (:func:`gputwin.perf.wide_ep.ranks_per_token` copies,
  not ``top_k``), on one domain as an all-to-all of those copies. ``ep_overlap_frac`` of
  the all-to-all hides behind the layer's own work; with ``moe_a2a_overlap``
  (Megatron-Core's 1F1B A2A overlap) or DualPipe a forward chunk runs beside another
  micro-batch's backward chunk, so the forward's all-to-all hides behind that backward's
  compute and the backward's behind the forward's: what exceeds them stays exposed, and
  at least ``a2a_overlap_sm_frac`` of each (the compute loses the SMs the communication
  kernels hold while they run).
- PP: send/recv of ``b·s/(cp·tp)·h`` activations at every chunk boundary, each way.
- DP: reduce-scatter (ZeRO ≥ 1) or all-reduce (ZeRO-0) of BF16 gradients over DP×CP, and
  an all-gather of updated BF16 weights (ZeRO ≥ 1), overlapped with the last backward /
  first forward except one bucket; ZeRO-2 reduces every micro-batch, ZeRO-3 also gathers
  weights in each forward and backward.

``num_leaves_spanned`` is scaled to each group: a group spanning a fraction of the job's
nodes spans that fraction of its leaves (at least one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gputwin.perf.calibration import Calibration
from gputwin.perf.flops import layer_shapes
from gputwin.perf.memory import LocalParams
from gputwin.perf.plan import Plan
from gputwin.perf.wide_ep import (
    DISPATCH_BYTES_FP8,
    forwarded_all_to_all_s,
    ranks_per_token,
    remote_domains_per_token,
)
from gputwin.topology.collectives import CollectiveOp, collective_time, group_for_ranks
from gputwin.topology.comm_types import CommGroup
from gputwin.topology.hardware import HardwareSpec

ACT_BYTES = 2.0


@dataclass(frozen=True, slots=True)
class CommContext:
    """Where the job runs: hardware and how many leaf switches the whole job spans."""

    hw: HardwareSpec
    job_leaves: int
    job_nodes: int

    def group(self, group_size: int, stride: int) -> CommGroup:
        """The ranks ``r, r+stride, ...`` (``group_size`` of them) as a communicator."""
        span_gpus = (group_size - 1) * stride + 1
        span_nodes = math.ceil(span_gpus / self.hw.gpus_per_node)
        leaves = max(1, min(self.job_leaves,
                            math.ceil(self.job_leaves * span_nodes / max(1, self.job_nodes))))
        return group_for_ranks(self.hw, group_size, stride, leaves if span_nodes > 1 else None)

    def group_time(self, op: CollectiveOp, size_bytes: float, group_size: int,
                   stride: int) -> float:
        """Seconds of one collective over ranks ``r, r+stride, ...`` (0 for one rank)."""
        if group_size <= 1 or size_bytes <= 0:
            return 0.0
        return collective_time(op, size_bytes, self.group(group_size, stride)).time_s


def make_context(hw: HardwareSpec, num_gpus: int, num_leaves_spanned: int | None) -> CommContext:
    """Context for a job of ``num_gpus`` packed onto nodes (leaves from the caller if given)."""
    nodes = max(1, math.ceil(num_gpus / hw.gpus_per_node))
    leaves = num_leaves_spanned or max(1, math.ceil(nodes / hw.network.nodes_per_leaf))
    return CommContext(hw, leaves, nodes)


def _act_bytes(plan: Plan) -> float:
    return ACT_BYTES * plan.tokens_per_microbatch * plan.arch.hidden_size


def tp_time_per_layer(plan: Plan, ctx: CommContext) -> float:
    """Total (not yet overlapped) TP seconds per layer per micro-batch."""
    if plan.tp == 1:
        return 0.0
    size = _act_bytes(plan)
    fwd_sets = 2 if plan.recompute == "full" else 1
    if plan.sp:
        ag = ctx.group_time(CollectiveOp.ALL_GATHER, size, plan.tp, 1)
        rs = ctx.group_time(CollectiveOp.REDUCE_SCATTER, size, plan.tp, 1)
        return (2 + 2 * fwd_sets) * (ag + rs)
    ar = ctx.group_time(CollectiveOp.ALL_REDUCE, size, plan.tp, 1)
    return (2 + 2 * fwd_sets) * ar


def tp_exposed_per_layer(plan: Plan, ctx: CommContext, c: Calibration) -> float:
    overlap = c.tp_overlap_frac_sp if plan.sp else c.tp_overlap_frac_no_sp
    return tp_time_per_layer(plan, ctx) * (1.0 - overlap)


def cp_exposed_per_layer(plan: Plan, ctx: CommContext, c: Calibration,
                         attn_s: float) -> float:
    """Exposed ring-attention seconds per layer per micro-batch (``attn_s``: fwd+bwd attn)."""
    if plan.cp == 1:
        return 0.0
    kv_dim = max(s.kv_dim for s, _ in layer_shapes(plan.arch))
    chunk = ACT_BYTES * plan.tokens_per_microbatch * kv_dim / plan.tp
    step = ctx.group_time(CollectiveOp.SEND_RECV, chunk, plan.cp, plan.tp)
    total = 3 * (plan.cp - 1) * step
    return max(total - c.cp_overlap_frac * attn_s, (1.0 - c.cp_overlap_frac) * total)


def _ep_call_s(plan: Plan, ctx: CommContext, token_bytes: float) -> float:
    """One dispatch or combine of a micro-batch's tokens (``token_bytes``: one copy of
    them) on the EP group, by the plan's dispatcher."""
    a = plan.arch
    k = max(1, a.num_experts_per_token)
    if plan.ep_dispatcher == "alltoall":
        return ctx.group_time(CollectiveOp.ALL_TO_ALL, token_bytes * k, plan.ep, plan.tp)
    group = ctx.group(plan.ep, plan.tp)
    g = group.gpus_per_domain
    if ctx.hw.system.scale_up_topology == "pcie":  # no NVLink: the plain all-to-all
        return collective_time(CollectiveOp.ALL_TO_ALL, token_bytes * k, group).time_s
    limit = {"groups": a.num_expert_groups, "groups_per_token": a.expert_groups_per_token}
    ranks = ranks_per_token(a.num_experts, k, plan.ep, **limit)
    if group.num_domains <= 1 or g <= 1:
        return collective_time(CollectiveOp.ALL_TO_ALL, token_bytes * ranks, group).time_s
    remote = remote_domains_per_token(a.num_experts, k, group.num_domains, **limit)
    return forwarded_all_to_all_s(group, ctx.group(g, plan.tp), token_bytes, ranks, remote)


def ep_times_per_moe_layer(plan: Plan, ctx: CommContext) -> tuple[float, float]:
    """(forward, backward) EP all-to-all seconds per MoE layer per micro-batch, not yet
    overlapped (full recomputation repeats the forward's in the backward)."""
    a = plan.arch
    if plan.ep == 1 or not a.is_moe:
        return 0.0, 0.0
    tokens = plan.tokens_per_microbatch / (plan.tp if plan.sp else 1)
    bf16 = _ep_call_s(plan, ctx, ACT_BYTES * tokens * a.hidden_size)
    dispatch = bf16
    if plan.ep_dispatch_fp8:
        dispatch = _ep_call_s(plan, ctx, DISPATCH_BYTES_FP8 * tokens * a.hidden_size)
    forward = dispatch + bf16
    return forward, 2 * bf16 + (forward if plan.recompute == "full" else 0.0)


def ep_exposed_per_moe_layer(plan: Plan, ctx: CommContext, c: Calibration,
                             fwd_s: float, bwd_s: float) -> float:
    """Exposed EP all-to-all seconds per MoE layer per micro-batch. Overlapped (1F1B A2A
    overlap, DualPipe), a forward chunk runs beside another micro-batch's backward chunk:
    the forward's all-to-all hides behind that backward's compute (``bwd_s``), the
    backward's behind the forward's (``fwd_s``), each keeping at least
    ``a2a_overlap_sm_frac`` of itself visible."""
    a2a_fwd, a2a_bwd = ep_times_per_moe_layer(plan, ctx)
    if plan.a2a_overlapped:
        floor = c.a2a_overlap_sm_frac
        return (max(a2a_fwd - bwd_s, floor * a2a_fwd)
                + max(a2a_bwd - fwd_s, floor * a2a_bwd))
    return (a2a_fwd + a2a_bwd) * (1.0 - c.ep_overlap_frac)


def pp_exposed_per_step(plan: Plan, ctx: CommContext, c: Calibration) -> float:
    """Exposed pipeline send/recv seconds per step on the critical path."""
    if plan.pp == 1:
        return 0.0
    size = _act_bytes(plan) / plan.tp
    stride = plan.tp * plan.cp * plan.dp
    one = ctx.group_time(CollectiveOp.SEND_RECV, size, 2, stride)
    transfers = 2 * (plan.num_microbatches + plan.pp - 1) * plan.interleave
    return transfers * one * (1.0 - c.pp_overlap_frac)


@dataclass(frozen=True, slots=True)
class DpComm:
    """Data-parallel seconds per step: raw and exposed after overlap."""

    total_s: float
    exposed_s: float


def _dp_times(bytes_: float, size: int, stride: int, ctx: CommContext,
              zero: int, grad_scale: float = 1.0) -> tuple[float, float, float]:
    """(grad reduce, param gather, one-bucket reduce) seconds for ``bytes_`` of BF16
    parameters (gradients reduced in ``grad_scale`` times the bytes: 2 in FP32)."""
    if size <= 1 or bytes_ <= 0:
        return 0.0, 0.0, 0.0
    grads = grad_scale * bytes_
    if zero == 0:
        red = ctx.group_time(CollectiveOp.ALL_REDUCE, grads, size, stride)
        return red, 0.0, red
    red = ctx.group_time(CollectiveOp.REDUCE_SCATTER, grads, size, stride)
    gat = ctx.group_time(CollectiveOp.ALL_GATHER, bytes_, size, stride)
    return red, gat, red


def dp_comm(plan: Plan, params: LocalParams, ctx: CommContext, c: Calibration,
            fwd_mb_s: float, bwd_mb_s: float, bubble_s: float) -> DpComm:
    """Gradient/weight traffic of one step.

    ``*_mb_s``: one micro-batch on the stage; ``bubble_s``: the pipeline fill/drain time,
    during which a stage is partly idle and its reduce-scatter (drain) or all-gather (fill)
    also proceeds.
    """
    groups = ((params.dense, plan.dp_cp, plan.tp),
              (params.expert, plan.expert_dp, plan.tp * plan.ep))
    red = gat = bucket_red = 0.0
    # FSDP / ZeRO-3 gathers and reduces one layer (wrapping unit) at a time: each of those
    # collectives pays its own latency, which dominates at thousands of ranks.
    units = max(1, plan.layers_per_stage) if plan.zero_stage >= 3 else 1
    grad_scale = 2.0 if plan.main_grads_fp32 else 1.0
    for n_params, size, stride in groups:
        r, g, _ = _dp_times(ACT_BYTES * n_params / units, size, stride, ctx, plan.zero_stage,
                            grad_scale)
        red, gat = red + units * r, gat + units * g
        bucket = min(n_params, c.dp_bucket_params)
        bucket_red += _dp_times(ACT_BYTES * bucket, size, stride, ctx, plan.zero_stage,
                                grad_scale)[2]
    if red == 0.0:
        return DpComm(0.0, 0.0)
    m = plan.num_microbatches
    ov = c.dp_overlap_frac
    if plan.zero_stage == 2:  # reduce-scatter after every micro-batch's backward
        total = m * red + gat
        exposed = m * max(0.0, red - ov * bwd_mb_s) + bucket_red + max(0.0, gat - ov * fwd_mb_s)
    elif plan.zero_stage >= 3:  # gather weights for forward and backward of every micro-batch
        total = m * (red + 2 * gat)
        per_mb = max(0.0, gat - ov * fwd_mb_s) + max(0.0, red + gat - ov * bwd_mb_s)
        exposed = m * per_mb + bucket_red
    else:
        total = red + gat
        half_bubble = bubble_s / 2
        exposed = (max(0.0, red - ov * (bwd_mb_s + half_bubble)) + bucket_red
                   + max(0.0, gat - ov * (fwd_mb_s + half_bubble))
                   + (bucket_red if gat else 0.0))
    return DpComm(total, min(total, exposed))
