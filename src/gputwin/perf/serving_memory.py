"""KV-cache memory of one serving replica (:class:`KvMemory`): what is left for the KV
cache on each GPU after weights, activations and the runtime, how many tokens and blocks
the replica's pools hold, and the batch that fits -- vLLM's profiling rule, with the
engine-specific variants in :mod:`gputwin.perf.engines` -- and the cached tokens a decode
step reads (all of a static per-slot cache, only the tokens held in a paged one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gputwin.errors import InputError
from gputwin.perf.serving_calib import ServingCalibration
from gputwin.perf.serving_shapes import ReplicaShape

if TYPE_CHECKING:
    from gputwin.perf.serving import ServingConfig


#: bytes of one fp32 logit: the sampler works on fp32 logits over the whole vocabulary
LOGIT_BYTES = 4.0


@dataclass(frozen=True, slots=True)
class ProfilingRule:
    """How an engine's start-up memory profiling sizes what it keeps out of the KV pool
    (an engine profile's ``kv.profiling``, perf/engines.yaml, where each figure's source
    is). vLLM V1 runs a dummy forward of ``max_num_batched_tokens`` (its peak the
    calibration's ``activation_peak_mult`` rule) and, apart, a dummy sampling of
    ``max_num_seqs`` rows of logits; the larger peak counts, and the logits
    span the whole vocabulary on every rank (gathered before sampling), so that peak does
    not shrink with tensor parallelism. ``runtime_bytes`` is the memory outside PyTorch's
    allocator that grows during profiling (the log's ``non_torch_memory``): on one GPU
    little, with a tensor-parallel group the communicators' buffers as well.

    SGLang's static fraction works the other way (``reserves_activations`` false): the
    pool is ``mem_fraction_static`` of the memory free before the weights load, less the
    weights, and the activations and CUDA graphs live in the rest; ``runtime_bytes`` is
    then the fraction's share of what the runtime held before loading."""

    sampler_logit_copies: float  # fp32 vocabulary-wide rows held at once, per sequence
    runtime_bytes: float  # non-torch bytes per GPU without a tensor-parallel group
    tp_runtime_bytes: float  # the same per GPU of a tensor-parallel group (tp > 1)
    reserves_activations: bool = True  # the pool leaves room for the activation peak


@dataclass(frozen=True, slots=True)
class KvMemory:
    """The memory side of a :class:`~gputwin.perf.serving.ServingPerf` (its ``memory``)."""

    config: ServingConfig
    shape: ReplicaShape
    calibration: ServingCalibration
    hbm_bytes: float  # one GPU's memory as the runtime reports it (Accelerator.usable_memory)
    weights_bytes_per_gpu: float  # target (and draft) model
    kv_bytes_per_token_per_gpu: float  # target (and draft) model, all layers of a stage
    #: the engine's profiling rule; None: the calibration's (activations of the token
    #: budget and the logits added, runtime_overhead_bytes)
    profiling: ProfilingRule | None = None
    #: what the memory fraction multiplies: ``total`` (vLLM, SGLang: the GPU's memory) or
    #: ``free`` (TensorRT-LLM: the memory left after the weights and the set-aside)
    memory_mode: str = "total"

    def activation_peak_bytes(self) -> float:
        """Peak activation bytes per GPU of the profiling pass (``max_num_batched_tokens``)."""
        c = self.config
        d = c.dp_attention  # each attention DP group runs its share of the budget
        tokens = -(-c.max_num_batched_tokens // d) * self.shape.act_peak_bytes_per_token
        seqs = -(-c.max_num_seqs // d)
        rule = self.profiling
        forward = tokens * self.calibration.activation_peak_mult
        if rule is not None:
            return max(forward,
                       seqs * self.shape.vocab_size * LOGIT_BYTES * rule.sampler_logit_copies)
        return forward + seqs * self.shape.vocab_size / c.tp * LOGIT_BYTES

    def runtime_bytes(self) -> float:
        """Bytes per GPU outside weights, activations and the KV cache that the sizing
        sets aside (CUDA context, communicator buffers, allocator slack)."""
        rule = self.profiling
        if rule is None:
            return self.calibration.runtime_overhead_bytes
        return rule.tp_runtime_bytes if self.config.tp > 1 else rule.runtime_bytes

    def set_aside_bytes(self) -> float:
        """Bytes per GPU the sizing keeps out of the pool beside the weights: the runtime,
        and the activation peak unless the engine's fraction leaves it outside."""
        rule = self.profiling
        acts = self.activation_peak_bytes() if rule is None or rule.reserves_activations \
            else 0.0
        return acts + self.runtime_bytes()

    def free_kv_bytes_per_gpu(self, gpu_memory_utilization: float = 0.9) -> float:
        """Bytes left for the KV cache on one GPU (may be negative: does not fit):
        ``memory × fraction − weights − set-aside`` (``total``), or ``fraction × (memory −
        weights − set-aside)`` (``free``, TensorRT-LLM's ``free_gpu_memory_fraction``)."""
        if self.memory_mode == "free":
            left = self.hbm_bytes - self.weights_bytes_per_gpu - self.set_aside_bytes()
            return left * gpu_memory_utilization if left > 0.0 else left
        return (self.hbm_bytes * gpu_memory_utilization - self.weights_bytes_per_gpu
                - self.set_aside_bytes())

    def kv_pool_tokens(self, free_bytes_per_gpu: float) -> float:
        """Tokens of context one KV pool holds in ``free_bytes_per_gpu`` (0 when none).

        Every layer's KV counts per token, except that local-attention layers never hold
        more than the window per sequence: with at most ``max_num_seqs`` sequences per
        pool their KV can be set aside as ``max_num_seqs·window`` tokens up front, and the
        pool then costs only the whole-context layers per token; the engine (vLLM's hybrid
        allocator, TensorRT-LLM's per-window pools) gets whichever holds more."""
        if free_bytes_per_gpu <= 0.0:
            return 0.0
        per_token = self.kv_bytes_per_token_per_gpu
        tokens = free_bytes_per_gpu / per_token
        local = self.shape.local_kv_bytes_per_token_per_gpu
        if local > 0.0:
            seqs = -(-self.config.max_num_seqs // self.config.dp_attention)
            set_aside = seqs * self.shape.attn_window * local
            left = free_bytes_per_gpu - set_aside
            if left >= 0.0:  # every sequence's windows fit; at most seqs of full length
                whole = per_token - local  # 0 when every layer is local (Mistral 7B)
                most = float(seqs * self.config.model.max_seq_len)
                tokens = max(tokens, min(left / whole, most) if whole > 0.0 else most)
        return tokens

    def hybrid_layout(self) -> tuple[int, float] | None:
        """``(⌈L/F⌉, whole-context KV bytes per token per GPU)`` for ``F`` whole-context
        and ``L >= F`` local-attention layers (vLLM V1's hybrid KV cache groups, see
        :func:`gputwin.perf.engines.local_kv_layout`); None without local layers, without
        whole-context ones or with more of those."""
        local = self.shape.local_kv_bytes_per_token_per_gpu
        if local <= 0.0:
            return None
        groups = self.shape.groups
        n_local = sum(g.num_layers for g in groups if g.attn_window)
        n_full = sum(g.num_layers for g in groups if not g.attn_window)
        if n_full == 0 or n_full > n_local:
            return None
        return -(-n_local // n_full), self.kv_bytes_per_token_per_gpu - local

    def decode_read_tokens(self, num_decode_seqs: int, decode_context_tokens_sum: float
                           ) -> float:
        """Σ cached tokens decode attention reads: the sequences' contexts, or every
        slot's whole static cache (``kv_cache_length``: JetStream's dense per-slot cache,
        whose XLA-compiled attention runs over the full length, masked)."""
        length = self.config.kv_cache_length
        if length is None:
            return decode_context_tokens_sum
        return float(num_decode_seqs * length)

    @property
    def kv_pools_per_replica(self) -> int:
        """Separate KV pools of a replica: one per attention data-parallel group."""
        return self.config.dp_attention

    def num_kv_blocks(self, block_size: int = 16, gpu_memory_utilization: float = 0.9) -> int:
        """KV blocks per replica as vLLM derives them (0 when nothing is left).

        ``memory × utilization − weights − activation peak − runtime overhead``, divided by
        the bytes of one block on one GPU; times ``dp_attention`` (each attention data-
        parallel group caches its own sequences, so MLA's latent is no longer replicated
        on every GPU of the replica).
        """
        if block_size < 1:
            raise InputError(f"block_size must be >= 1, got {block_size}")
        if not 0.0 < gpu_memory_utilization <= 1.0:
            raise InputError(f"gpu_memory_utilization must be in (0, 1], got "
                             f"{gpu_memory_utilization}")
        free = self.free_kv_bytes_per_gpu(gpu_memory_utilization)
        return int(self.kv_pool_tokens(free) // block_size) * self.kv_pools_per_replica

    def max_batch_size_by_memory(self, context_tokens: int, block_size: int = 16,
                                 gpu_memory_utilization: float = 0.9) -> int:
        """Sequences of ``context_tokens`` whose KV fits at once (block-rounded).

        With local-attention layers, a batch of equal sequences also fits when each holds
        its whole context in the global layers and only its window (plus the block being
        filled) in the local ones, as vLLM's hybrid allocator frees the blocks a window
        has left behind (:meth:`kv_bytes_per_sequence`); the larger of that and the
        pool's count (:meth:`num_kv_blocks`, which sets windows aside for
        ``max_num_seqs``) holds."""
        blocks_per_seq = max(1, -(-int(context_tokens) // block_size))
        by_pool = self.num_kv_blocks(block_size, gpu_memory_utilization) // blocks_per_seq
        if self.shape.local_kv_bytes_per_token_per_gpu <= 0.0:
            return by_pool
        free = self.free_kv_bytes_per_gpu(gpu_memory_utilization)
        if free <= 0.0:
            return by_pool
        per_seq = self.kv_bytes_per_sequence(context_tokens, block_size)
        return max(by_pool, int(free // per_seq) * self.kv_pools_per_replica)

    def kv_bytes_per_sequence(self, context_tokens: int, block_size: int = 16) -> float:
        """KV bytes one sequence of ``context_tokens`` holds on one GPU (block-rounded):
        every token in the whole-context layers, at most the local window plus one
        block in the local-attention layers, which vLLM's hybrid groups pad to a
        multiple of the whole-context layers (:meth:`hybrid_layout`)."""
        tokens = max(1, -(-int(context_tokens) // block_size)) * block_size
        local = self.shape.local_kv_bytes_per_token_per_gpu
        window = self.shape.attn_window
        if local <= 0.0 or window <= 0:
            return tokens * self.kv_bytes_per_token_per_gpu
        held = min(tokens, (-(-window // block_size) + 1) * block_size)
        whole = self.kv_bytes_per_token_per_gpu - local
        layout = self.hybrid_layout()
        if layout is not None:
            local = layout[0] * whole
        return tokens * whole + held * local
