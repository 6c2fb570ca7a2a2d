"""Exact parameter counts of a :class:`~gputwin.catalog.schema.ModelSpec`.

Pure integer functions, no I/O. Counting conventions:

- *Embedding* parameters: the token embedding (``vocab x hidden``), the output head when it
  is not tied to it, and a learned position table (``max_seq_len x hidden``) if any.
- *Attention*: Q/K/V/O projections (GQA-aware), their biases when the model has them, one
  learned sink logit per head (``attention_sinks``, gpt-oss), and for multi-head latent
  attention (MLA) the low-rank down/up projections and their norms.
- *MLP*: the dense MLP (three matrices when gated/SwiGLU, two otherwise) or, in MoE layers,
  all routed experts + shared experts; the router matrix is counted separately.
- *Norms*: two per layer plus the final norm (LayerNorm = weight + bias, RMSNorm = weight).
- *Active* parameters per token count every embedding parameter, attention, norms, routers,
  shared experts and ``num_experts_per_token`` routed experts (the convention behind
  Mixtral's "12.9B active" and DeepSeek-V3's "37B activated").

Layers ``0 .. num_dense_layers-1`` of an MoE model use the dense MLP of width
``ffn_hidden_size``; the others are MoE layers with experts of width ``moe_ffn_hidden_size``
(or ``ffn_hidden_size`` when that is unset, as in Mixtral).
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.catalog.schema import ModelSpec


@dataclass(frozen=True, slots=True)
class LayerParams:
    """Parameters of one transformer layer; ``mlp_active`` is what one token touches."""

    attention: int
    mlp: int
    mlp_active: int
    router: int
    norms: int

    @property
    def total(self) -> int:
        return self.attention + self.mlp + self.router + self.norms

    @property
    def active(self) -> int:
        return self.attention + self.mlp_active + self.router + self.norms


@dataclass(frozen=True, slots=True)
class ParamCounts:
    """Whole-model parameter counts (plain integers)."""

    embedding: int
    attention: int
    mlp: int
    router: int
    norms: int
    active: int

    @property
    def total(self) -> int:
        return self.embedding + self.attention + self.mlp + self.router + self.norms

    @property
    def non_embedding(self) -> int:
        return self.total - self.embedding


def _norm_size(model: ModelSpec, width: int) -> int:
    return 2 * width if model.norm_kind == "layernorm" else width


def embedding_params(model: ModelSpec) -> int:
    """Token embedding + untied output head + learned position table."""
    table = model.vocab_size * model.hidden_size
    head = 0 if model.tied_embeddings else table
    learned = model.position_embedding == "learned"
    positions = model.max_seq_len * model.hidden_size if learned else 0
    return table + head + positions


def attention_params(model: ModelSpec) -> int:
    """Parameters of one attention block (MHA, GQA or MLA), including its biases."""
    if model.attention_kind == "mla":
        return _mla_params(model)
    h = model.hidden_size
    q_out = model.num_attention_heads * model.attn_head_dim
    kv_out = model.kv_heads * model.attn_head_dim
    weights = h * q_out + 2 * h * kv_out + q_out * h
    bias = 0
    if model.linear_bias:
        bias = q_out + 2 * kv_out + h
    elif model.qkv_bias:
        bias = q_out + 2 * kv_out
    sinks = model.num_attention_heads if model.attention_sinks else 0
    return weights + bias + sinks


def _mla_params(model: ModelSpec) -> int:
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank Q and joint low-rank KV."""
    missing = [
        name
        for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
        if getattr(model, name) is None
    ]
    if missing:
        raise ValueError(f"model {model.name!r}: MLA needs {', '.join(missing)}")
    h, heads = model.hidden_size, model.num_attention_heads
    nope, rope = model.qk_nope_head_dim or 0, model.qk_rope_head_dim or 0
    v_dim, kv_rank = model.v_head_dim or 0, model.kv_lora_rank or 0
    qk_dim = nope + rope
    if model.q_lora_rank:
        q = h * model.q_lora_rank + model.q_lora_rank + model.q_lora_rank * heads * qk_dim
    else:
        q = h * heads * qk_dim
    # kv_a projects to the latent plus the shared rotary key; kv_b expands to K_nope and V.
    kv = h * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v_dim)
    out = heads * v_dim * h
    return q + kv + out


def dense_mlp_params(model: ModelSpec, ffn: int) -> int:
    """One MLP of intermediate width ``ffn`` (gated: 3 matrices, plain: 2), with biases."""
    h = model.hidden_size
    if model.mlp_kind == "swiglu":
        return 3 * h * ffn + ((2 * ffn + h) if model.linear_bias else 0)
    return 2 * h * ffn + ((ffn + h) if model.linear_bias else 0)


def is_moe_layer(model: ModelSpec, index: int) -> bool:
    """Whether layer ``index`` (0-based) has experts."""
    return model.is_moe and index >= model.num_dense_layers


def layer_params(model: ModelSpec, index: int) -> LayerParams:
    """Parameter split of layer ``index``; raises ``IndexError`` outside the model."""
    if not 0 <= index < model.num_layers:
        raise IndexError(f"layer {index} outside 0..{model.num_layers - 1}")
    attention = attention_params(model)
    norms = 2 * _norm_size(model, model.hidden_size)
    if model.attention_kind == "mla":
        # RMSNorms on the Q and KV latents (counted with the layer's norms).
        norms += (model.q_lora_rank or 0) + (model.kv_lora_rank or 0)
        attention -= (model.q_lora_rank or 0) + (model.kv_lora_rank or 0)
    if not is_moe_layer(model, index):
        mlp = dense_mlp_params(model, model.ffn_hidden_size)
        return LayerParams(attention, mlp, mlp, 0, norms)
    expert = dense_mlp_params(model, model.moe_ffn_hidden_size or model.ffn_hidden_size)
    routed = model.num_experts * expert
    shared = model.num_shared_experts * expert
    active = (model.num_experts_per_token + model.num_shared_experts) * expert
    router = model.hidden_size * model.num_experts
    return LayerParams(attention, routed + shared, active, router, norms)


def num_moe_layers(model: ModelSpec) -> int:
    """Layers with experts (0 for a dense model)."""
    return model.num_layers - min(model.num_dense_layers, model.num_layers) if model.is_moe else 0


def param_counts(model: ModelSpec) -> ParamCounts:
    """Totals over all layers plus embeddings and the final norm."""
    num_dense = model.num_layers - num_moe_layers(model)
    kinds = [layer_params(model, 0)] if num_dense else []
    counts = [num_dense] if num_dense else []
    if num_dense < model.num_layers:
        kinds.append(layer_params(model, num_dense))
        counts.append(model.num_layers - num_dense)
    embedding = embedding_params(model)
    final_norm = _norm_size(model, model.hidden_size)
    attention = sum(k.attention * n for k, n in zip(kinds, counts, strict=True))
    mlp = sum(k.mlp * n for k, n in zip(kinds, counts, strict=True))
    router = sum(k.router * n for k, n in zip(kinds, counts, strict=True))
    norms = sum(k.norms * n for k, n in zip(kinds, counts, strict=True)) + final_norm
    active = embedding + final_norm + sum(k.active * n for k, n in zip(kinds, counts, strict=True))
    return ParamCounts(embedding, attention, mlp, router, norms, active)


def total_params(model: ModelSpec) -> int:
    """Every parameter of the model."""
    return param_counts(model).total


def active_params_per_token(model: ModelSpec) -> int:
    """Parameters one token passes through (equals ``total_params`` for dense models)."""
    return param_counts(model).active
