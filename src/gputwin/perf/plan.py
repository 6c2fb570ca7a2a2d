"""The derived shape of one training job: the numbers every sub-model needs.

A :class:`Plan` is built once per estimate from the model architecture, the parallel split
and the batch; the memory, compute and communication models read it. Rank order follows
Megatron-Core: TP innermost, then CP, then DP (EP carved out of DP×CP), PP outermost.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from gputwin.perf.flops import DEFAULT_RECOMPUTE_MODULES, Arch


@dataclass(frozen=True, slots=True)
class Plan:
    """Derived quantities of a job (all counts per pipeline unless stated)."""

    arch: Arch
    num_gpus: int
    tp: int
    pp: int
    cp: int
    ep: int
    dp: int
    interleave: int
    sequence_parallel: bool
    zero_stage: int
    micro_batch_size: int
    seq_len: int
    global_batch_size: int
    dtype: str
    recompute: str
    balanced_stages: bool = True  # first/last stages give up layers when pp·v ∤ layers
    deallocate_pipeline_outputs: bool = True  # Megatron-Core frees sent stage outputs
    offload_optimizer: bool = False  # Adam state and step on the host (CPU offload)
    #: Selective recomputation's checkpointed modules (perf/activations.py).
    recompute_modules: tuple[str, ...] = DEFAULT_RECOMPUTE_MODULES
    recompute_num_layers: int = 0  # full recompute of the first N layers per chunk (0: all)
    offload_activation_layers: int = 0  # layers whose activations wait in host memory
    offload_modules: tuple[str, ...] = ()  # modules whose inputs wait in host memory
    main_grads_fp32: bool = False  # gradients accumulated and reduced in FP32
    adam_moments_bf16: bool = False  # Adam's two moments in BF16 (FP32 master kept)
    fused_cross_entropy: bool = False  # the loss keeps only the BF16 logits (TE's fused loss)
    ep_dispatcher: str = "alltoall"  # "alltoall" | "deepep" | "hybridep" (communication.py)
    ep_dispatch_fp8: bool = False  # MoE dispatch in FP8 (DeepSeek-V3 §3.3), else BF16
    moe_a2a_overlap: bool = False  # EP all-to-all hidden behind another micro-batch
    pipeline_schedule: str = "1f1b"  # "1f1b" (interleaved with interleave > 1) | "dualpipe"

    @property
    def a2a_overlapped(self) -> bool:
        """The EP all-to-all runs beside another micro-batch's compute (1F1B A2A overlap,
        or DualPipe, whose paired forward and backward chunks exist for this)."""
        return (self.moe_a2a_overlap or self.pipeline_schedule == "dualpipe") and (
            self.num_microbatches > 1)

    @property
    def num_microbatches(self) -> int:
        """Micro-batches each pipeline runs per step (gradient-accumulation steps)."""
        return self.global_batch_size // (self.micro_batch_size * self.dp)

    @property
    def tokens_per_microbatch(self) -> int:
        """Tokens one CP rank processes per micro-batch (``mbs × seq / cp``)."""
        return self.micro_batch_size * self.seq_len // self.cp

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch_size * self.seq_len

    @property
    def sp(self) -> bool:
        """Sequence parallelism in effect (only meaningful with TP > 1)."""
        return self.sequence_parallel and self.tp > 1

    @property
    def stage_layer_counts(self) -> tuple[int, ...]:
        """Layers held by each pipeline rank (all its virtual chunks), first rank first."""
        return stage_layer_counts(self.arch.num_layers, self.pp, self.interleave,
                                  balanced=self.balanced_stages)

    @property
    def layers_per_stage(self) -> int:
        """Layers on the busiest pipeline stage."""
        return max(self.stage_layer_counts)

    @property
    def moe_layer_frac(self) -> float:
        """Share of layers with a mixture-of-experts MLP."""
        a = self.arch
        if not a.is_moe:
            return 0.0
        return (a.num_layers - min(a.num_dense_layers, a.num_layers)) / a.num_layers

    @property
    def dp_cp(self) -> int:
        """Ranks holding the same dense weights (gradients are reduced over them)."""
        return self.dp * self.cp

    @property
    def expert_dp(self) -> int:
        """Ranks holding the same expert weights."""
        return max(1, self.dp_cp // self.ep)

    @property
    def compute_dtype(self) -> str:
        """Dtype of the GEMMs (FP8 for fp8 training; otherwise the training dtype)."""
        return self.dtype

    @property
    def act_dtype(self) -> str:
        """Dtype of attention and elementwise work (BF16 even in FP8 training)."""
        return "fp16" if self.dtype == "fp16" else "bf16"


@functools.lru_cache(maxsize=4096)
def stage_layer_counts(num_layers: int, pp: int, interleave: int, *,
                       balanced: bool = True) -> tuple[int, ...]:
    """Layers per pipeline rank when ``num_layers`` are cut into ``pp × interleave`` chunks.

    Every chunk gets ``ceil(L / (p·v))`` layers. When that overshoots ``L``, ``balanced``
    takes the missing layers from the outermost chunks first (first, last, second,
    second-to-last, ...): the first and last stages also hold the embedding and the
    output layer (Llama 3 pre-training: 126 layers on 16 stages, one layer fewer on the
    first and the last; Megatron-Core ``decoder_first/last_pipeline_num_layers``).
    Without ``balanced`` every rank is modelled with the rounded-up count (the old,
    conservative rule). Chunk ``c`` lives on rank ``c mod p``.
    """
    chunks = pp * interleave
    per_chunk = -(-num_layers // chunks)
    if not balanced:
        return (per_chunk * interleave,) * pp
    sizes = [per_chunk] * chunks
    deficit = per_chunk * chunks - num_layers
    order = [i for pair in zip(range(chunks), range(chunks - 1, -1, -1), strict=True)
             for i in pair]
    for chunk in list(dict.fromkeys(order))[:deficit]:
        sizes[chunk] -= 1
    return tuple(sum(sizes[rank::pp]) for rank in range(pp))
