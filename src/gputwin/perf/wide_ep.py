"""Wide expert parallelism: MoE dispatch/combine all-to-all and expert load imbalance.

A replica of ``tp × dp_attention`` GPUs (per pipeline stage) with ``ep = tp ×
dp_attention`` runs attention data-parallel (each of the ``dp_attention`` groups holds
its own sequences and their KV cache, TP-split over ``tp``) and spreads the routed
experts over all ``ep`` ranks (SGLang ``--enable-dp-attention --ep N``, vLLM
``--data-parallel-size N --enable-expert-parallel``). Every MoE layer then costs, per
GPU, besides the expert GEMMs:

- **dispatch**: each rank sends its tokens to the ranks of their top-``k`` experts —
  ``tokens × k × hidden`` elements in FP8 with one FP32 scale per 128 (DeepEP's FP8
  dispatch; NVFP4 dispatch with NVFP4 experts, as SGLang on GB200);
- **combine**: the expert outputs come back in BF16 (``tokens × k × hidden × 2`` bytes).

Both are :data:`~gputwin.topology.comm_types.CollectiveOp.ALL_TO_ALL` on the EP group
(:func:`~gputwin.topology.collectives.group_for_ranks`): NVLink inside a scale-up domain
(8 GPUs of an HGX node, 72 of a GB200 NVL72), the scale-out NICs beyond it, so the cost
jumps when the EP group leaves the NVLink domain. Kernels: decode-only steps use the
*low-latency* kernels (DeepEP ``low_latency_dispatch``: CUDA-graph friendly, no CPU
sync); steps with prefill use the *normal* (high-throughput) kernels, which add a
CPU-blocking layout exchange per call (:data:`NORMAL_KERNEL_SYNC_S`).

**Normal kernels across scale-up domains forward inside the domain**: a token crosses the
scale-out fabric once per *remote domain* that holds any of its experts, to the GPU of the
same in-domain index there, which forwards it over NVLink to the expert GPUs (DeepEP's
internode normal kernels; DeepSeek-V3 report §3.2: "tokens are transmitted via IB to the
GPUs with the same in-node index on their target nodes ... forwarded via NVLink"; combine
reduces inside the domain first and sends one copy back). Per rank and MoE layer the NIC
moves ``tokens × R × hidden`` elements, ``R`` = the expected remote domains a token's
top-``k`` experts fall in (:func:`remote_domains_per_token`, experts spread evenly and
picked at random), not ``tokens × k × (n - g)/n``. Inside a domain the normal kernels
send a token once to each GPU holding any of its experts, which feeds all of its own
(DeepEP's per-rank layout, ``is_token_in_rank``), so NVLink carries ``P`` copies
(:func:`ranks_per_token`: the expected GPUs of the group holding any of the token's
experts, ``P ≤ k``; ``(g - 1)/g`` of them leave the receiving GPU). The two legs are
pipelined, so a call costs the slower. The low-latency kernels send every (token, expert)
copy straight over RDMA (no forwarding) and keep the plain all-to-all.

**Load imbalance**: a step waits for the busiest GPU. Its share of the routed tokens is
``imbalance × mean`` with ``imbalance = skew × (1 + sqrt(2 ln n / m))`` — the expected
maximum of ``m`` routed tokens per GPU over ``n`` GPUs thrown at random (balls into bins,
the ``m ≫ n ln n`` regime) times the expert-popularity ``skew`` that routing adds on top
(:data:`DEFAULT_EXPERT_SKEW`, an assumption; EPLB's redundant experts remove it in
proportion ``min(1, redundant / ep)``). A measured factor may be given instead
(``ep_imbalance``).

**Overlap**: the published wide-EP deployments hide communication behind computation
(SGLang two-batch overlap on H100, fine-grained overlap on GB200; vLLM dual-batch
overlap), so by default a MoE layer exposes only the part of its all-to-all that exceeds
the layer's own computation (``overlap_frac = 1``); ``overlap_frac = 0`` serialises them.

**Without NVLink** (a PCIe scale-up domain: RTX PRO 6000, L40S, H100 PCIe servers) there
is no all-to-all kernel to run: DeepEP's intranode path and TensorRT-LLM's NVLink one- and
two-sided kernels need NVLink peer access, and TensorRT-LLM then falls back to its
``AllGatherReduceScatter`` strategy ("the default fallback strategy that always works",
tensorrt_llm/_torch/modules/fused_moe/communication/allgather_reducescatter.py; chosen last
in communication_factory.py): every rank gathers all ranks' (quantised) tokens, runs its
experts on them and reduce-scatters the BF16 outputs (NCCL ring all-gather and
reduce-scatter, ``gathered = True``). Both calls sit on the compute stream between the
layer's kernels, so nothing hides them (``overlap_frac`` does not apply), and every rank
moves the same bytes, so the routing imbalance does not touch them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gputwin.perf.serving_shapes import FP4_WEIGHTS
from gputwin.topology.collectives import CollectiveOp, collective_time, group_for_ranks
from gputwin.topology.comm_types import CommGroup
from gputwin.topology.hardware import HardwareSpec

#: Bytes per dispatched element: FP8 E4M3 plus one FP32 scale per 128 (DeepEP FP8
#: dispatch, DeepSeek-V3 report §3.3 fine-grained quantisation); NVFP4 plus one FP8 scale
#: per 16 (SGLang GB200 part II: "NVFP4 quantization is fused into [DeepEP] ... halving
#: the required network traffic").
DISPATCH_BYTES_FP8 = 1.0 + 4.0 / 128
DISPATCH_BYTES_FP4 = 0.5 + 1.0 / 16
#: Combine returns BF16 expert outputs (DeepEP: "FP8 dispatching and BF16 combining").
COMBINE_BYTES = 2.0
#: CPU-blocking layout exchange of a normal (high-throughput) DeepEP dispatch: "the
#: dispatch operation blocks the CPU until the GPU receives metadata from other ranks"
#: (SGLang large-scale EP blog, 2025-05). Size: assumption (tens of microseconds).
NORMAL_KERNEL_SYNC_S = 30e-6
#: Busiest-expert skew of real routing over a uniform one, without EPLB. Assumption,
#: consistent with the SGLang blog's simulated "GPU balancedness" (mean/max) that drops
#: as EP grows and that EPLB raises back towards 1.
DEFAULT_EXPERT_SKEW = 1.3


def dispatch_bytes_per_element(weights_dtype: str) -> float:
    """FP8 dispatch, or NVFP4 when the experts run in an FP4 format."""
    return DISPATCH_BYTES_FP4 if weights_dtype in FP4_WEIGHTS else DISPATCH_BYTES_FP8


def expected_imbalance(routed_tokens: float, num_gpus: int, *, redundant_experts: int = 0,
                       skew: float = DEFAULT_EXPERT_SKEW) -> float:
    """Busiest GPU's routed tokens over the mean (≥ 1) for ``routed_tokens`` (tokens × k).

    ``skew × (1 + sqrt(2 ln n / m))`` with ``m`` the mean per GPU; EPLB's
    ``redundant_experts`` remove the skew in proportion ``min(1, redundant / n)``.
    """
    if num_gpus <= 1 or routed_tokens <= 0:
        return 1.0
    mean = routed_tokens / num_gpus
    balls = 1.0 + math.sqrt(2.0 * math.log(num_gpus) / max(mean, 1.0))
    removed = min(1.0, redundant_experts / num_gpus)
    return (1.0 + (skew - 1.0) * (1.0 - removed)) * balls


@dataclass(frozen=True, slots=True)
class WideEpComm:
    """All-to-all cost model of one replica's EP group (immutable, cached by the caller)."""

    group: CommGroup
    hidden_size: int
    top_k: int
    dispatch_bytes: float
    overlap_frac: float
    gathered: bool = False  # all-gather + reduce-scatter (no NVLink) instead of all-to-all
    num_experts: int = 0  # routed experts of the model (0: no forwarding path)
    domain: CommGroup | None = None  # one scale-up domain of the group (forwarding leg)
    num_expert_groups: int = 1  # group-limited routing (ModelSpec; 1/1 = none)
    expert_groups_per_token: int = 1

    def layer_time_s(self, local_tokens: int, imbalance: float, *, low_latency: bool) -> float:
        """Dispatch + combine seconds of one MoE layer for ``local_tokens`` per rank.

        The bandwidth part scales with the busiest rank's share (``imbalance``)."""
        if local_tokens <= 0:
            return 0.0
        if self.gathered:
            return self._gather_time_s(local_tokens)
        if not low_latency and self.domain is not None and self.num_experts > 0:
            return self._forwarded_time_s(local_tokens, imbalance) + NORMAL_KERNEL_SYNC_S
        elems = local_tokens * self.top_k * self.hidden_size
        total = 0.0
        for nbytes in (self.dispatch_bytes, COMBINE_BYTES):
            est = collective_time(CollectiveOp.ALL_TO_ALL, elems * nbytes, self.group)
            total += est.base_s + est.latency_s + est.bandwidth_s * imbalance
        if not low_latency:
            total += NORMAL_KERNEL_SYNC_S
        return total

    def _forwarded_time_s(self, local_tokens: int, imbalance: float) -> float:
        """Dispatch + combine of the normal kernels over several scale-up domains: one
        scale-out copy per remote domain, one NVLink copy per GPU holding any of the
        token's experts (module docstring); each call costs its slower leg."""
        assert self.domain is not None
        limit = {"groups": self.num_expert_groups,
                 "groups_per_token": self.expert_groups_per_token}
        remote = remote_domains_per_token(self.num_experts, self.top_k,
                                          self.group.num_domains, **limit)
        ranks = ranks_per_token(self.num_experts, self.top_k, self.group.num_gpus, **limit)
        return sum(forwarded_all_to_all_s(self.group, self.domain,
                                          local_tokens * self.hidden_size * nbytes,
                                          ranks, remote, imbalance)
                   for nbytes in (self.dispatch_bytes, COMBINE_BYTES))

    def _gather_time_s(self, local_tokens: int) -> float:
        """All-gather of every rank's ``local_tokens`` (dispatch precision) + reduce-scatter
        of the BF16 outputs of all of them (sizes in the nccl-tests convention)."""
        gathered_elems = self.group.num_gpus * local_tokens * self.hidden_size
        gather = collective_time(CollectiveOp.ALL_GATHER,
                                 gathered_elems * self.dispatch_bytes, self.group)
        scatter = collective_time(CollectiveOp.REDUCE_SCATTER,
                                  gathered_elems * COMBINE_BYTES, self.group)
        return gather.time_s + scatter.time_s

    def exposed_s(self, comm_s: float, compute_s: float) -> float:
        """What the overlap leaves visible of ``comm_s`` beside ``compute_s`` (all of it on
        the gather path, which runs between the layer's kernels)."""
        if self.gathered:
            return comm_s
        return max(0.0, comm_s - self.overlap_frac * compute_s)


def forwarded_all_to_all_s(group: CommGroup, domain: CommGroup, token_bytes: float,
                           ranks: float, remote_domains: float,
                           imbalance: float = 1.0) -> float:
    """One dispatch (or combine) of the forwarding kernels over several scale-up domains:
    ``token_bytes`` (a rank's tokens, one copy) cross the scale-out fabric once per remote
    domain and go over the domains' NVLink once per GPU holding any of their experts
    (``ranks`` per token over the group, :func:`ranks_per_token`); the two legs are
    pipelined, so the call costs the slower (module docstring). The bandwidth part scales
    with the busiest rank's share (``imbalance``)."""
    n, g = group.num_gpus, group.gpus_per_domain
    # sizes in the nccl-tests convention: out_bytes = (n - g)/n × size
    nic = collective_time(CollectiveOp.ALL_TO_ALL, token_bytes * remote_domains * n / (n - g),
                          group)
    nvl = collective_time(CollectiveOp.ALL_TO_ALL, token_bytes * ranks, domain)
    return max(est.base_s + est.latency_s + est.bandwidth_s * imbalance for est in (nic, nvl))


def _miss(pool: float, excluded: float, k: int) -> float:
    """``C(pool - excluded, k) / C(pool, k)``: the chance that ``k`` experts picked at random
    from ``pool`` avoid a given ``excluded`` of them."""
    miss = 1.0
    for i in range(min(k, math.ceil(pool))):
        miss *= max(0.0, pool - excluded - i) / (pool - i)
    return miss


def remote_domains_per_token(num_experts: int, top_k: int, num_domains: int, *,
                             groups: int = 1, groups_per_token: int = 1) -> float:
    """Expected scale-up domains, other than the sender's, holding at least one of a
    token's ``top_k`` experts, for ``E`` experts spread evenly over ``d`` domains and
    picked at random (routing skew is not counted): ``(d - 1) × (1 - C(E - E/d, k) /
    C(E, k))``.

    With group-limited routing (DeepSeek-V3's node-limited routing, HF ``n_group`` /
    ``topk_group``: the experts form ``groups`` equal groups and a token's come from its
    best ``groups_per_token`` of them), the groups picked at random: when a domain holds
    whole groups, the number of picked groups in it is hypergeometric and the ``k``
    experts fall among the picked groups' experts only; when a group spans several
    domains, a domain is reached only if its group is picked. Groups and domains that do
    not line up are counted as unlimited."""
    d, e, k = num_domains, num_experts, top_k
    if d <= 1 or e <= 0:
        return 0.0
    g, picked = groups, min(groups_per_token, groups)
    if g <= 1 or picked >= g or (g % d and d % g):
        reached = 1.0 - _miss(e, e / d, k)
    elif g % d == 0:  # a domain holds g/d whole groups
        held, pool = g // d, picked * e / g
        none = sum(math.comb(held, j) * math.comb(g - held, picked - j) / math.comb(g, picked)
                   * _miss(pool, j * e / g, k) for j in range(min(held, picked) + 1))
        reached = 1.0 - none
    else:  # a group spans d/g domains
        reached = picked / g * (1.0 - _miss(picked * e / g, e / d, k))
    return (d - 1) * reached


def ranks_per_token(num_experts: int, top_k: int, num_ranks: int, *,
                    groups: int = 1, groups_per_token: int = 1) -> float:
    """Expected GPUs of an EP group of ``num_ranks`` holding at least one of a token's
    ``top_k`` experts (the sender's own included), the copies a per-rank dispatch sends
    (DeepEP's normal kernels: one per destination GPU, not one per expert): the
    :func:`remote_domains_per_token` count with one GPU per domain, over all ``n`` GPUs
    instead of the ``n - 1`` others (every GPU is reached with the same chance). ``top_k``
    for one rank or no experts."""
    if num_ranks <= 1 or num_experts <= 0:
        return float(top_k)
    others = remote_domains_per_token(num_experts, top_k, num_ranks, groups=groups,
                                      groups_per_token=groups_per_token)
    return min(float(top_k), others * num_ranks / (num_ranks - 1))


def wide_ep_comm(hw: HardwareSpec, ep: int, hidden_size: int, top_k: int,
                 weights_dtype: str, overlap_frac: float = 1.0,
                 num_experts: int = 0, *, num_expert_groups: int = 1,
                 expert_groups_per_token: int = 1) -> WideEpComm:
    """The EP group of ``ep`` consecutive ranks (packed onto nodes and NVLink domains);
    on a PCIe scale-up domain the gather path; over several scale-up domains with
    ``num_experts`` given, the forwarding path of the normal kernels (module docstring)."""
    group = group_for_ranks(hw, ep, 1)
    pcie = hw.system.scale_up_topology == "pcie"
    g = group.gpus_per_domain
    domain = (group_for_ranks(hw, g, 1)
              if group.num_domains > 1 and g > 1 and not pcie else None)
    return WideEpComm(group, hidden_size, max(1, top_k),
                      dispatch_bytes_per_element(weights_dtype), overlap_frac,
                      gathered=pcie, num_experts=num_experts, domain=domain,
                      num_expert_groups=num_expert_groups,
                      expert_groups_per_token=expert_groups_per_token)


__all__ = ["COMBINE_BYTES", "DEFAULT_EXPERT_SKEW", "DISPATCH_BYTES_FP4", "DISPATCH_BYTES_FP8",
           "NORMAL_KERNEL_SYNC_S", "WideEpComm", "dispatch_bytes_per_element",
           "expected_imbalance", "forwarded_all_to_all_s", "remote_domains_per_token",
           "wide_ep_comm"]
