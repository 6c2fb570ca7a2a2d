"""FLOP and parameter counts of dense and MoE transformers (exact matmul accounting).

Conventions (per token, forward pass, whole layer before any tensor-parallel split):

- A GEMM ``[tokens, k] x [k, n]`` costs ``2·k·n`` FLOP per token.
- Attention core (``QKᵀ`` and ``PV``) costs ``2·s·(d_qk + d_v)·heads`` per token when every
  query attends to all ``s`` keys. Published Megatron/NeMo "model FLOPs" count it this way
  (no causal halving): Narayanan et al. 2021 eq. (3) and the NeMo flops callback. The
  kernels that really run (flash attention, causal) do about half of it, and local-attention
  layers only their window; the time model prices that (:mod:`gputwin.perf.attention_work`),
  the reported FLOPs do not (Megatron-Bridge counts gpt-oss's window layers in full too).
- Model FLOPs = 3 × forward (backward = 2 × forward). Hardware FLOPs add recomputation:
  a full extra forward of every layer (``full``) or of the attention core (``selective``).
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Literal

from gputwin.catalog.schema import ModelSpec

#: Share of the full ``s×s`` score matrix a causal flash-attention kernel computes.
CAUSAL_WORK_FRAC = 0.5


@dataclass(frozen=True, slots=True)
class Arch:
    """The architecture fields of a :class:`ModelSpec` (hashable, for caching)."""

    num_layers: int
    hidden_size: int
    num_attention_heads: int
    kv_heads: int
    head_dim: int
    ffn_hidden_size: int
    vocab_size: int
    mlp_kind: Literal["gelu", "swiglu"]
    tied_embeddings: bool
    num_experts: int
    num_experts_per_token: int
    moe_ffn_hidden_size: int | None
    num_shared_experts: int
    num_dense_layers: int
    attention_kind: Literal["mha", "mla"]
    q_lora_rank: int | None
    kv_lora_rank: int | None
    qk_nope_head_dim: int | None
    qk_rope_head_dim: int | None
    v_head_dim: int | None
    local_attention_window: int = 0  # 0: every layer attends over the whole context
    local_attention_layers: int = 0
    num_expert_groups: int = 1  # group-limited routing (ModelSpec): 1/1 = no limit
    expert_groups_per_token: int = 1

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0


#: Each (frozen) catalog model's architecture, built once (the planner asks per layout):
#: keyed by the object's id, with a weak reference that tells a reused id from the model.
_ARCHES: dict[int, tuple[weakref.ref[ModelSpec], Arch]] = {}


def arch_of(m: ModelSpec) -> Arch:
    """Extract the hashable architecture of a catalog model (memoised per model object)."""
    hit = _ARCHES.get(id(m))
    if hit is not None and hit[0]() is m:
        return hit[1]
    arch = _build_arch(m)
    if len(_ARCHES) >= 1024:  # models built from config files come and go
        _ARCHES.clear()
    _ARCHES[id(m)] = (weakref.ref(m), arch)
    return arch


def _build_arch(m: ModelSpec) -> Arch:
    return Arch(
        m.num_layers, m.hidden_size, m.num_attention_heads, m.kv_heads, m.attn_head_dim,
        m.ffn_hidden_size, m.vocab_size, m.mlp_kind, m.tied_embeddings, m.num_experts,
        m.num_experts_per_token, m.moe_ffn_hidden_size, m.num_shared_experts,
        m.num_dense_layers, m.attention_kind, m.q_lora_rank, m.kv_lora_rank,
        m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim,
        m.local_attention_window or 0, m.local_attention_layers,
        m.num_expert_groups, m.expert_groups_per_token,
    )


@dataclass(frozen=True, slots=True)
class Gemm:
    """One weight GEMM of a layer: ``n`` outputs, ``k`` inputs, applied to each token.

    ``tokens_frac`` is the share of the layer's tokens it sees (top-k/E for one routed
    expert; 1 otherwise); ``count`` how many such GEMMs the layer has (routed experts).
    ``tp_split`` is False for the router (replicated on TP ranks).
    """

    name: str
    n: int
    k: int
    count: int = 1
    tokens_frac: float = 1.0
    expert: bool = False
    tp_split: bool = True

    @property
    def flops_per_token(self) -> float:
        """Forward FLOP per layer token over all ``count`` copies."""
        return 2.0 * self.n * self.k * self.count * self.tokens_frac

    @property
    def params(self) -> int:
        return self.n * self.k * self.count


@dataclass(frozen=True, slots=True)
class LayerShape:
    """The GEMMs and attention dimensions of one transformer layer type."""

    gemms: tuple[Gemm, ...]
    q_dim: int  # heads × qk head dim (total over heads)
    v_dim: int  # heads × v head dim
    kv_dim: int  # K+V width stored per token (GQA/MLA aware), elements
    is_moe: bool
    norm_params: int

    @property
    def gemm_flops_per_token(self) -> float:
        return sum(g.flops_per_token for g in self.gemms)

    def attn_core_flops_per_token(self, seq_len: int) -> float:
        """Forward attention-core FLOP per token, full (non-causal) ``s×s`` convention."""
        return 2.0 * seq_len * (self.q_dim + self.v_dim)

    @property
    def params(self) -> int:
        return sum(g.params for g in self.gemms) + self.norm_params


#: The Megatron-Core ``recompute_modules`` entry whose checkpoint re-runs each GEMM (the
#: shared experts also run again when the whole MoE layer is recomputed).
_GEMM_MODULES: dict[str, frozenset[str]] = {
    "q_up": frozenset({"mla_up_proj"}), "kv_up": frozenset({"mla_up_proj"}),
    "mlp_fc1": frozenset({"mlp"}), "mlp_fc2": frozenset({"mlp"}),
    "router": frozenset({"moe"}), "expert_fc1": frozenset({"moe"}),
    "expert_fc2": frozenset({"moe"}), "shared_fc1": frozenset({"shared_experts", "moe"}),
    "shared_fc2": frozenset({"shared_experts", "moe"}),
}


#: What selective recomputation checkpoints when no modules are named (Megatron-Core's
#: default ``recompute_modules``): the attention core, which with flash attention frees
#: nothing but runs its forward again.
DEFAULT_RECOMPUTE_MODULES: tuple[str, ...] = ("core_attn",)


def recomputing_modules(gemm_name: str) -> frozenset[str]:
    """The ``recompute_modules`` entries whose checkpoint re-runs GEMM ``gemm_name``."""
    return _GEMM_MODULES.get(gemm_name, frozenset())


def _attention_gemms(m: Arch) -> tuple[list[Gemm], int, int, int]:
    h = m.hidden_size
    heads = m.num_attention_heads
    if m.attention_kind == "mla":
        nope = m.qk_nope_head_dim or 128
        rope = m.qk_rope_head_dim or 64
        vd = m.v_head_dim or 128
        kvr = m.kv_lora_rank or 512
        gemms: list[Gemm] = []
        if m.q_lora_rank:
            gemms += [Gemm("q_down", m.q_lora_rank, h, tp_split=False),
                      Gemm("q_up", heads * (nope + rope), m.q_lora_rank)]
        else:
            gemms.append(Gemm("q_proj", heads * (nope + rope), h))
        gemms += [Gemm("kv_down", kvr + rope, h, tp_split=False),
                  Gemm("kv_up", heads * (nope + vd), kvr),
                  Gemm("attn_out", h, heads * vd)]
        return gemms, heads * (nope + rope), heads * vd, kvr + rope
    d = m.head_dim
    q_dim, kv = heads * d, m.kv_heads * d
    gemms = [Gemm("qkv", q_dim + 2 * kv, h), Gemm("attn_out", h, q_dim)]
    return gemms, q_dim, q_dim, 2 * kv


def _mlp_gemms(m: Arch, ffn: int, prefix: str, count: int = 1,
               tokens_frac: float = 1.0, expert: bool = False) -> list[Gemm]:
    h = m.hidden_size
    up = 2 * ffn if m.mlp_kind == "swiglu" else ffn
    return [Gemm(f"{prefix}_fc1", up, h, count, tokens_frac, expert),
            Gemm(f"{prefix}_fc2", h, ffn, count, tokens_frac, expert)]


@functools.lru_cache(maxsize=256)
def layer_shapes(m: Arch) -> tuple[tuple[LayerShape, int], ...]:
    """``((shape, num_layers), ...)``: dense layers first, then MoE layers (if any)."""
    attn, q_dim, v_dim, kv_dim = _attention_gemms(m)
    norms = 2 * m.hidden_size * (2 if m.mlp_kind == "gelu" else 1)
    dense = LayerShape(tuple(attn + _mlp_gemms(m, m.ffn_hidden_size, "mlp")),
                       q_dim, v_dim, kv_dim, False, norms)
    if not m.is_moe:
        return ((dense, m.num_layers),)
    e, k = m.num_experts, max(1, m.num_experts_per_token)
    ffn = m.moe_ffn_hidden_size or m.ffn_hidden_size
    moe_g = [Gemm("router", e, m.hidden_size, tp_split=False)]
    moe_g += _mlp_gemms(m, ffn, "expert", count=e, tokens_frac=k / e, expert=True)
    if m.num_shared_experts:
        moe_g += _mlp_gemms(m, ffn * m.num_shared_experts, "shared")
    moe = LayerShape(tuple(attn + moe_g), q_dim, v_dim, kv_dim, True, norms)
    n_dense = min(m.num_dense_layers, m.num_layers)
    out = [(dense, n_dense)] if n_dense else []
    return (*out, (moe, m.num_layers - n_dense))


def embedding_params(m: Arch) -> tuple[int, int]:
    """(input embedding, output layer) parameters; the output is 0 when tied."""
    emb = m.vocab_size * m.hidden_size
    return emb, 0 if m.tied_embeddings else emb


def total_params(m: Arch) -> float:
    """All parameters (transformer layers, embeddings, final norm)."""
    layers = sum(shape.params * n for shape, n in layer_shapes(m))
    emb, out = embedding_params(m)
    return float(layers + emb + out + m.hidden_size)


def active_params(m: Arch) -> float:
    """Parameters a token passes through (routed experts counted top-k times)."""
    act = 0.0
    for shape, n in layer_shapes(m):
        act += n * (shape.norm_params + sum(g.n * g.k * g.count * g.tokens_frac
                                            for g in shape.gemms))
    emb, out = embedding_params(m)
    return act + emb + out


def logits_flops_per_token(m: Arch) -> float:
    return 2.0 * m.hidden_size * m.vocab_size


def forward_flops_per_token(m: Arch, seq_len: int) -> float:
    """Forward FLOP per token, Megatron/NeMo convention (full attention scores)."""
    layers = sum(n * (s.gemm_flops_per_token + s.attn_core_flops_per_token(seq_len))
                 for s, n in layer_shapes(m))
    return layers + logits_flops_per_token(m)


def model_flops_per_token(m: Arch, seq_len: int) -> float:
    """Training model FLOP per token (forward + backward = 3 × forward), as used for MFU."""
    return 3.0 * forward_flops_per_token(m, seq_len)


def hardware_flops_per_token(m: Arch, seq_len: int, recompute: str,
                             modules: frozenset[str] = frozenset(DEFAULT_RECOMPUTE_MODULES),
                             full_frac: float = 1.0) -> float:
    """Model FLOPs plus the forward work recomputed in backward (for HFU): the whole forward
    of ``full_frac`` of the layers under ``full``, the checkpointed ``modules`` (attention
    core, GEMMs) under ``selective``."""
    extra = 0.0
    for s, n in layer_shapes(m):
        attn = s.attn_core_flops_per_token(seq_len)
        if recompute == "full":
            extra += n * full_frac * (s.gemm_flops_per_token + attn)
        elif recompute == "selective":
            extra += n * (attn if "core_attn" in modules else 0.0)
            extra += n * sum(g.flops_per_token for g in s.gemms
                             if recomputing_modules(g.name) & modules)
    return model_flops_per_token(m, seq_len) + extra
