"""Per-GPU constants of an inference replica: weights, FLOP, KV bytes per layer group.

Everything here is computed once per :class:`~gputwin.perf.serving.ServingConfig`, so the
per-step model only multiplies token counts by these constants. Conventions:

- A replica runs on ``tp × pp`` GPUs. Each GPU holds ``1/pp`` of the layers and ``1/tp`` of
  every split weight (vLLM/TensorRT-LLM Megatron-style TP). With ``ep > 1`` (MoE) the
  experts are spread over ``ep`` of the ``tp`` ranks and each expert is TP-split over the
  remaining ``tp/ep`` (same bytes per GPU; fewer, whole experts per GPU). Wide EP
  (``ep = tp × dp_attention``, :mod:`gputwin.perf.wide_ep`): every GPU holds
  ``(experts + redundant)/ep`` whole experts and the dense weights of its attention
  group (``1/tp``, replicated over the ``dp_attention`` groups); routed-expert FLOP per
  token are then the mean over the ``ep`` GPUs (``expert_flop_per_token`` per token of
  the whole replica's step).
- Weight bytes per element: bf16/fp16 2, fp8/int8 1, int4 0.5 plus one fp16 scale per
  group of 128 (AWQ/GPTQ); the block-scaled FP4 formats count their scales too: NVFP4
  (``nvfp4``, alias ``fp4``) 4-bit E2M1 values plus one FP8 E4M3 scale per 16 = 4.5 bits,
  MXFP4 (``mxfp4``, OCP Microscaling v1.0) 4-bit E2M1 plus one E8M0 scale per 32 = 4.25
  bits (NVIDIA, "Introducing NVFP4 for efficient and accurate low-precision inference",
  2025; OCP MX spec v1.0, 2023; the per-tensor FP32 scale of NVFP4 is negligible).
  Embedding and LM head stay in bf16 (vLLM and TensorRT-LLM do not quantise them by
  default).
- KV cache per token and layer: ``2·kv_heads·head_dim`` values (MLA: the latent
  ``kv_lora_rank + rope_dim``, replicated on every TP rank as in vLLM). When ``tp`` exceeds
  the KV heads each rank keeps one (replicated) head.
- Attention FLOP per query–key pair: ``2·(d_qk + d_v)`` per head (QKᵀ and PV). MLA decode
  runs the absorbed form over the latent (``d_qk = kv_rank + rope``, ``d_v = kv_rank``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gputwin.catalog.schema import ModelSpec
from gputwin.perf.flops import Arch, arch_of, layer_shapes

#: Bytes per weight element by quantisation, scales included (see the module docstring).
WEIGHT_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0,
                                  "int4": 0.5 + 2.0 / 128, "fp4": 0.5 + 1.0 / 16,
                                  "nvfp4": 0.5 + 1.0 / 16, "mxfp4": 0.5 + 1.0 / 32}
#: Weight formats that run on FP4 tensor cores (W4A4 block-scaled MMA, Blackwell and later).
FP4_WEIGHTS: tuple[str, ...] = ("fp4", "nvfp4", "mxfp4")
#: Bytes per KV-cache element.
KV_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
ACT_BYTES = 2.0  # bf16 activations


@dataclass(frozen=True, slots=True)
class GroupConsts:
    """One layer type (dense or MoE) as one GPU sees it, per layer."""

    num_layers: int  # in the whole model (a step traverses all of them)
    dense_weight_bytes: float  # non-expert weights on this GPU
    dense_flop_per_token: float  # non-expert GEMM FLOP per token on this GPU
    expert_weight_bytes: float  # one local expert's bytes on this GPU (0 if dense)
    expert_flop_per_token: float  # routed-expert FLOP per replica token on this GPU (mean)
    local_experts: int  # expert slots on this GPU (redundant EPLB copies included)
    log_miss: float  # log(1 - k/slots): P(slot untouched by one token) (0 if dense)
    prefill_attn_flop_per_pair: float
    decode_attn_flop_per_pair: float
    kv_bytes_per_token: float  # this layer, this GPU
    elem_bytes_per_token: float  # memory-bound elementwise traffic per token
    expert_width: float = 0.0  # one expert's intermediate width, unsplit (0 if dense)
    rows_per_expert_per_token: float = 0.0  # routed rows an expert gets per replica token
    attn_window: float = 0.0  # local attention: keys a query attends over (0: whole context)


@dataclass(frozen=True, slots=True)
class ReplicaShape:
    groups: tuple[GroupConsts, ...]
    hidden_size: int
    lm_head_weight_bytes: float  # per GPU (last stage)
    lm_head_flop_per_token: float  # per GPU
    weights_bytes_per_gpu: float  # the heaviest stage
    kv_bytes_per_token_per_gpu: float  # all layers of the heaviest stage
    kv_bytes_per_token_total: float  # all layers, all GPUs of the replica
    layers_per_stage: int
    act_peak_bytes_per_token: float  # per GPU, before the calibration multiplier
    vocab_size: int
    attn_window: int = 0  # local-attention window in tokens (0: none)
    local_kv_bytes_per_token_per_gpu: float = 0.0  # the local layers' share of the above
    #: the local layers' share of ``kv_bytes_per_token_total`` (a window's worth is shipped)
    local_kv_bytes_per_token_total: float = 0.0


#: Dense GEMMs split by attention heads (the others by the MLP width)
_HEAD_GEMMS = frozenset({"qkv", "attn_out", "q_proj", "q_up", "kv_up"})


def _units_per_gpu(units: int, tp: int, padded_ranks: int) -> float:
    """Heads (or MLP columns, KV heads) one GPU holds: ``ceil(units / tp)`` (replicated
    when fewer than ``tp``), or with ``padded_ranks`` per chip the padded share of a stack
    that rounds ``units`` up to whole ranks (``ranks · ceil(units / (tp · ranks))``)."""
    if padded_ranks:
        return float(padded_ranks * math.ceil(units / (tp * padded_ranks)))
    return float(math.ceil(units / tp))


def _kv_width_per_gpu(a: Arch, kv_dim: int, tp: int, padded_ranks: int = 0) -> float:
    if a.attention_kind == "mla":
        return float(kv_dim)
    per_head = kv_dim / a.kv_heads
    return per_head * _units_per_gpu(a.kv_heads, tp, padded_ranks)


def _group(shape_n: tuple[object, int], a: Arch, tp: int, ep: int, wbytes: float,
           kvbytes: float, redundant: int = 0, padded_ranks: int = 0) -> GroupConsts:
    from gputwin.perf.flops import LayerShape

    shape, n = shape_n
    assert isinstance(shape, LayerShape)
    # the dense GEMMs' divisor: tp, or the share a padding stack leaves each GPU
    head_split: float = tp
    mlp_split: float = tp
    if padded_ranks:
        heads = a.num_attention_heads
        head_split = heads / _units_per_gpu(heads, tp, padded_ranks)
        mlp_split = a.ffn_hidden_size / _units_per_gpu(a.ffn_hidden_size, tp, padded_ranks)
    dense_params = float(shape.norm_params)
    dense_flop = 0.0
    expert_params = 0.0
    expert_flop = 0.0
    for g in shape.gemms:
        if g.expert:
            expert_params += g.n * g.k  # one expert
            expert_flop += g.flops_per_token / max(tp, ep)
        else:
            split = ((head_split if g.name in _HEAD_GEMMS else mlp_split) if g.tp_split
                     else 1)
            dense_params += g.params / split
            dense_flop += g.flops_per_token / split
    e, k = a.num_experts, max(1, a.num_experts_per_token)
    slots = e + redundant
    local = slots // ep if shape.is_moe else 0
    log_miss = math.log1p(-min(k / slots, 0.999999)) if shape.is_moe else 0.0
    # each expert is TP-split over tp/ep ranks inside TP, whole with wide EP
    expert_bytes = expert_params * wbytes / max(1, tp // ep) if shape.is_moe else 0.0
    prefill_pair = 2.0 * (shape.q_dim + shape.v_dim) / head_split
    if a.attention_kind == "mla":
        kvr = a.kv_lora_rank or 512
        rope = a.qk_rope_head_dim or 64
        decode_pair = 2.0 * a.num_attention_heads * (2 * kvr + rope) / head_split
    else:
        decode_pair = prefill_pair
    kv = _kv_width_per_gpu(a, shape.kv_dim, tp, padded_ranks) * kvbytes
    ffn = a.moe_ffn_hidden_size or a.ffn_hidden_size if shape.is_moe else a.ffn_hidden_size
    act_ffn = ffn * (k if shape.is_moe else 1) / tp
    elem = ACT_BYTES * (10.0 * a.hidden_size + 3.0 * act_ffn
                        + 2.0 * (shape.q_dim + shape.kv_dim / 2) / tp)
    width = float(ffn) if shape.is_moe else 0.0
    rows = k / e if shape.is_moe else 0.0
    return GroupConsts(n, dense_params * wbytes, dense_flop, expert_bytes, expert_flop,
                       local, log_miss, prefill_pair, decode_pair, kv, elem, width, rows)


def replica_shape(model: ModelSpec, *, tp: int, pp: int, ep: int, weights_dtype: str,
                  kv_cache_dtype: str, redundant_experts: int = 0,
                  padded_ranks: int = 0) -> ReplicaShape:
    """Constants of ``model`` split ``tp × pp`` (``ep`` inside tp, or wide over ``tp ×
    dp_attention`` ranks) with the given dtypes and EPLB ``redundant_experts`` slots.
    ``padded_ranks`` (> 0 on parts whose stack pads heads, e.g. 2 NeuronCores per
    Inferentia2 chip): heads and MLP columns are rounded up to ``tp × padded_ranks`` ranks
    and key/value heads replicated to one per rank."""
    a = arch_of(model)
    wbytes = WEIGHT_BYTES[weights_dtype]
    kvbytes = KV_BYTES[kv_cache_dtype]
    groups = _with_local_attention(
        tuple(_group(sn, a, tp, ep, wbytes, kvbytes, redundant_experts, padded_ranks)
              for sn in layer_shapes(a)), a)
    per_layer_weights = sum(g.num_layers * (g.dense_weight_bytes
                                            + g.local_experts * g.expert_weight_bytes)
                            for g in groups) / a.num_layers
    per_layer_kv = sum(g.num_layers * g.kv_bytes_per_token for g in groups) / a.num_layers
    local_kv = sum(g.num_layers * g.kv_bytes_per_token for g in groups
                   if g.attn_window) / a.num_layers
    layers_per_stage = math.ceil(a.num_layers / pp)
    emb = a.vocab_size * a.hidden_size * ACT_BYTES / tp
    lm_head = 0.0 if (a.tied_embeddings and pp == 1) else emb
    stage_extra = emb + lm_head if pp == 1 else max(emb, lm_head if lm_head else emb)
    weights = layers_per_stage * per_layer_weights + stage_extra
    # unique KV bytes (what a prefill replica ships to a decode replica)
    kv_total = sum(n * shape.kv_dim for shape, n in layer_shapes(a)) * kvbytes
    ffn_local = max(a.ffn_hidden_size, (a.moe_ffn_hidden_size or 0)
                    * max(1, a.num_experts_per_token)) / tp
    act_peak = ACT_BYTES * (4.0 * a.hidden_size + 2.0 * ffn_local)
    return ReplicaShape(
        groups=groups, hidden_size=a.hidden_size,
        lm_head_weight_bytes=a.vocab_size * a.hidden_size * ACT_BYTES / tp,
        lm_head_flop_per_token=2.0 * a.vocab_size * a.hidden_size / tp,
        weights_bytes_per_gpu=weights,
        kv_bytes_per_token_per_gpu=layers_per_stage * per_layer_kv,
        kv_bytes_per_token_total=kv_total, layers_per_stage=layers_per_stage,
        act_peak_bytes_per_token=act_peak, vocab_size=a.vocab_size,
        attn_window=a.local_attention_window if a.local_attention_layers else 0,
        local_kv_bytes_per_token_per_gpu=layers_per_stage * local_kv,
        local_kv_bytes_per_token_total=(kv_total * a.local_attention_layers / a.num_layers
                                        if a.local_attention_layers else 0.0),
    )


def _with_local_attention(groups: tuple[GroupConsts, ...], a: Arch) -> tuple[GroupConsts, ...]:
    """Split each layer group into whole-context and local-window layers, the local ones
    spread over the groups in proportion (gpt-oss alternates them in one group; Llama 4
    Maverick has them in both its dense and MoE layers)."""
    local = a.local_attention_layers
    if not local:
        return groups
    out: list[GroupConsts] = []
    left = local
    for i, g in enumerate(groups):
        n_local = min(left, g.num_layers if i == len(groups) - 1
                      else round(g.num_layers * local / a.num_layers))
        left -= n_local
        if g.num_layers - n_local:
            out.append(dataclasses.replace(g, num_layers=g.num_layers - n_local))
        if n_local:
            out.append(dataclasses.replace(g, num_layers=n_local,
                                           attn_window=float(a.local_attention_window)))
    return tuple(out)
