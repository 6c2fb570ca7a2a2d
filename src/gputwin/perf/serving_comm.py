"""A serving replica's communication: TP all-reduces, PP hand-offs and, with attention
data parallelism, the MoE dispatch/combine all-to-all and the expert load imbalance.

Each cost comes from the collective model (:mod:`gputwin.topology.collectives`) on the
replica's communicators and is cached by token count (batch sizes repeat), so the serving
step (:class:`gputwin.perf.serving.ServingPerf`) pays a dictionary lookup per call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gputwin.perf.wide_ep import WideEpComm, expected_imbalance, wide_ep_comm
from gputwin.topology.collectives import CollectiveOp, collective_time, group_for_ranks
from gputwin.topology.comm_types import CommGroup

if TYPE_CHECKING:
    from gputwin.perf.serving import ServingConfig
    from gputwin.topology.hardware import HardwareSpec

#: Largest all-reduce vLLM's custom kernel handles (8 MiB); bigger ones go to NCCL.
CUSTOM_ALLREDUCE_MAX_BYTES = 8 * 1024 * 1024
ACTIVATION_BYTES = 2.0  # bf16 hidden states between ranks and stages


def custom_allreduce_runs(hw: HardwareSpec, tp: int) -> bool:
    """Whether a TP group's small all-reduces run the engines' one-shot kernel (vLLM's
    custom all-reduce and its SGLang and TensorRT-LLM counterparts) rather than NCCL.

    The kernel has every rank read its peers' buffers directly, so it needs the whole
    group inside one scale-up domain with peer access (TensorRT-LLM's runs across the
    trays of an NVL72 rack). vLLM
    (``vllm/distributed/device_communicators/custom_all_reduce.py``) turns it off on more
    than two GPUs that are not all NVLink-connected ("not supported on more than two
    PCIe-only GPUs") and where the peer-access check fails: on a host-routed PCIe domain
    only a pair with peer-to-peer access (a bridge or PCIe P2P) keeps it.
    """
    sysm = hw.system
    if tp > sysm.scale_up_domain_size:
        return False
    if sysm.scale_up_topology != "pcie":
        return True
    return tp == 2 and (sysm.peer_to_peer or sysm.pair_bridge_fabric is not None)


class ReplicaComm:
    """Communicators and cached collective times of one serving replica."""

    __slots__ = ("_a2a_cache", "_ar_cache", "_config", "_hidden", "_imb_cache", "_pp_cache",
                 "_tp_comm_mult", "a2a", "ar", "pp_group")

    def __init__(self, c: ServingConfig, tp_comm_mult: float) -> None:
        self._config = c
        self._hidden = c.model.hidden_size
        # the one-shot kernel's share of NCCL's time; 1 where the group falls back to NCCL
        self._tp_comm_mult = tp_comm_mult if custom_allreduce_runs(c.hw, c.tp) else 1.0
        self.ar: CommGroup | None = group_for_ranks(c.hw, c.tp, 1) if c.tp > 1 else None
        self.pp_group: CommGroup | None = (group_for_ranks(c.hw, 2, c.tp) if c.pp > 1
                                           else None)
        self.a2a: WideEpComm | None = None
        if c.dp_attention > 1:  # wide EP: experts over every rank, all-to-all per MoE layer
            self.a2a = wide_ep_comm(c.hw, c.ep, c.model.hidden_size,
                                    c.model.num_experts_per_token, c.weights_dtype,
                                    c.ep_overlap_frac, num_experts=c.model.num_experts,
                                    num_expert_groups=c.model.num_expert_groups,
                                    expert_groups_per_token=c.model.expert_groups_per_token)
        self._ar_cache: dict[int, float] = {}
        self._pp_cache: dict[int, float] = {}
        self._a2a_cache: dict[tuple[int, bool], float] = {}
        self._imb_cache: dict[int, float] = {}

    def allreduce_s(self, tokens: int) -> float:
        """One TP all-reduce of ``tokens`` hidden states (tp > 1)."""
        t = self._ar_cache.get(tokens)
        if t is None:
            size = tokens * self._hidden * ACTIVATION_BYTES
            assert self.ar is not None
            t = collective_time(CollectiveOp.ALL_REDUCE, size, self.ar).time_s
            if size <= CUSTOM_ALLREDUCE_MAX_BYTES:  # one-shot custom kernel, not NCCL
                t *= self._tp_comm_mult
            self._ar_cache[tokens] = t
        return t

    def handoff_s(self, tokens: int) -> float:
        """One PP stage-to-stage send of ``tokens`` hidden states (pp > 1)."""
        t = self._pp_cache.get(tokens)
        if t is None:
            assert self.pp_group is not None
            t = collective_time(CollectiveOp.SEND_RECV, tokens * self._hidden * ACTIVATION_BYTES,
                                self.pp_group).time_s
            self._pp_cache[tokens] = t
        return t

    def imbalance(self, routed_tokens: int) -> float:
        """Busiest expert GPU's share of a step's routed tokens over the mean (1 without EP)."""
        c = self._config
        if c.ep <= 1:
            return 1.0
        t = self._imb_cache.get(routed_tokens)
        if t is None:
            t = c.ep_imbalance if c.ep_imbalance is not None else expected_imbalance(
                routed_tokens * max(1, c.model.num_experts_per_token), c.ep,
                redundant_experts=c.redundant_experts)
            self._imb_cache[routed_tokens] = t
        return t

    def moe_comm_s(self, tokens: int, *, low_latency: bool) -> float:
        """Dispatch + combine seconds of one MoE layer for a step of ``tokens`` (replica
        total; 0 without attention data parallelism)."""
        a2a = self.a2a
        if a2a is None or tokens <= 0:
            return 0.0
        key = (tokens, low_latency)
        t = self._a2a_cache.get(key)
        if t is None:
            local = -(-tokens // self._config.dp_attention)
            t = a2a.layer_time_s(local, self.imbalance(tokens), low_latency=low_latency)
            self._a2a_cache[key] = t
        return t


__all__ = ["CUSTOM_ALLREDUCE_MAX_BYTES", "ReplicaComm"]
