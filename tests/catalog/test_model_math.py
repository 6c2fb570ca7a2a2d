"""Parameter counts against published totals and closed-form formulas."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputwin.catalog.loader import default_catalog
from gputwin.catalog.model_math import (
    active_params_per_token,
    attention_params,
    embedding_params,
    layer_params,
    param_counts,
    total_params,
)
from gputwin.catalog.schema import ModelSpec

CAT = default_catalog()

# (model, published total, published active or None, source)
PUBLISHED = [
    ("llama2-7b", 6.74e9, None),        # Llama 2 paper / HF model card
    ("llama2-13b", 13.0e9, None),
    ("llama2-70b", 69.0e9, None),       # HF card: 69B
    ("llama3-8b", 8.03e9, None),        # HF card: 8.03B
    ("llama3-70b", 70.6e9, None),       # HF card: 70.6B
    ("llama3.1-405b", 405.9e9, None),   # HF card: 406B (405.9B)
    ("mistral-7b", 7.24e9, None),       # HF card: 7.24B
    ("qwen2.5-72b", 72.7e9, None),      # Qwen2.5 report: 72.7B
    ("mixtral-8x7b", 46.7e9, 12.9e9),   # Mistral blog: 46.7B total, 12.9B active
    ("mixtral-8x22b", 141e9, 39e9),     # Mistral blog: 141B total, 39B active
    ("deepseek-v3", 671e9, 37e9),       # DeepSeek-V3 report: 671B total, 37B activated
    ("deepseek-r1", 671e9, 37e9),       # DeepSeek-R1 card: V3 architecture
    ("llama3.3-70b", 70.6e9, None),     # HF card: 70.6B
    ("llama3.2-1b", 1.24e9, None),      # HF card: 1.24B (tied embeddings)
    ("llama3.2-3b", 3.21e9, None),      # HF card: 3.21B (tied embeddings)
    ("qwen3-235b-a22b", 235e9, 22e9),   # Qwen3 report: 235B total, 22B activated
    ("llama4-maverick", 400e9, 17e9),   # Meta: 400B total, 17B active
    ("llama4-scout", 109e9, 17e9),      # Meta: 109B total, 17B active
    ("gpt3-175b", 175e9, None),         # GPT-3 paper
    ("gpt3-6.7b", 6.7e9, None),
    ("gpt3-13b", 13e9, None),
    ("gpt3-1.3b", 1.3e9, None),
    ("qwen3-coder-480b-a35b", 480e9, 35e9),  # HF card: 480B total, 35B activated
    ("qwen3-14b", 14.8e9, None),        # HF card: 14.8B
    ("qwen3-8b", 8.2e9, None),          # HF card: 8.2B
    ("qwen3-4b", 4.0e9, None),          # HF card: 4.0B (tied embeddings)
    ("qwen2.5-32b", 32.5e9, None),      # HF card: 32.5B
    ("qwen2.5-14b", 14.7e9, None),      # HF card: 14.7B
    ("qwen2.5-7b", 7.61e9, None),       # HF card: 7.61B
    ("gemma2-27b", 27.228e9, None),     # Gemma 2 report Table 1: 1,180M embedding + 26,048M
    ("gemma2-9b", 9.241e9, None),       # Gemma 2 report Table 1: 917M embedding + 8,324M
    ("mistral-large-2407", 123e9, None),  # Mistral AI: 123B
    ("mistral-small-24b-2501", 23.6e9, None),  # HF card: 23.6B (announced as 24B)
    ("mistral-nemo-12b", 12.2e9, None),  # HF card: 12.2B (announced as 12B)
    ("phi-4", 14.7e9, None),            # HF card: 14.7B (report: 14B)
]


@pytest.mark.parametrize(("name", "total", "active"), PUBLISHED)
def test_published_totals(name: str, total: float, active: float | None) -> None:
    model = CAT.model(name)
    assert total_params(model) == pytest.approx(total, rel=0.02)
    if active is not None:
        assert active_params_per_token(model) == pytest.approx(active, rel=0.02)
    else:
        assert active_params_per_token(model) == total_params(model)


@pytest.mark.parametrize(("name", "total", "active_no_embed"), [
    ("gpt-oss-120b", 116.83e9, 5.13e9), ("gpt-oss-20b", 20.91e9, 3.61e9)])
def test_gpt_oss_totals(name: str, total: float, active_no_embed: float) -> None:
    """The gpt-oss model card counts active parameters without the embedding table, which
    a token reads one row of; ours counts it (input embedding + LM head)."""
    model = CAT.model(name)
    # with the biases on every projection and expert and a sink logit per head, the count
    # meets the card's printed digits (116.83B, 20.91B; active 5.13B, 3.61B)
    assert total_params(model) == pytest.approx(total, abs=0.006e9)
    embed = model.vocab_size * model.hidden_size
    assert active_params_per_token(model) - embed == pytest.approx(active_no_embed,
                                                                     abs=0.006e9)


def test_attention_sinks_add_one_parameter_per_head_and_layer() -> None:
    model = CAT.model("gpt-oss-120b")
    without = model.model_copy(update={"attention_sinks": False})
    assert total_params(model) - total_params(without) == 36 * 64


@pytest.mark.parametrize(("name", "total", "active_no_embed"), [
    ("glm-4.5", 355e9, 32e9), ("glm-4.6", 355e9, 32e9), ("glm-4.5-air", 106e9, 12e9)])
def test_glm_totals(name: str, total: float, active_no_embed: float) -> None:
    """GLM-4.5's card counts active parameters without the input embedding and the output
    head (both untied); ours counts both. The one multi-token-prediction layer is not in
    the catalog's total (it serves speculative decoding only)."""
    model = CAT.model(name)
    assert total_params(model) == pytest.approx(total, rel=0.01)
    tables = 2 * model.vocab_size * model.hidden_size
    assert active_params_per_token(model) - tables == pytest.approx(active_no_embed, rel=0.02)


# Gemma 3 report (arXiv:2503.19786) Table 1: non-embedding parameters of the text decoder
# (the 417M vision encoder and the embedding table are listed apart)
@pytest.mark.parametrize(("name", "non_embedding"), [
    ("gemma3-27b", 25_600e6), ("gemma3-12b", 10_759e6), ("gemma3-4b", 3_209e6)])
def test_gemma3_non_embedding(name: str, non_embedding: float) -> None:
    model = CAT.model(name)
    assert model.tied_embeddings
    assert param_counts(model).non_embedding == pytest.approx(non_embedding, rel=0.005)


# Narayanan et al. 2021, Table 1: published parameter counts (billions, one decimal)
MEGATRON = [("18.4b", 18.4), ("39.1b", 39.1), ("76.1b", 76.1), ("145.6b", 145.6),
            ("310.1b", 310.1), ("529.6b", 529.6), ("1t", 1008.0)]


@pytest.mark.parametrize(("size", "billions"), MEGATRON)
def test_megatron_table(size: str, billions: float) -> None:
    model = CAT.model(f"megatron-gpt-{size}")
    total = total_params(model)
    assert total / 1e9 == pytest.approx(billions, abs=0.051)
    # the paper's closed form: 12 l h^2 (1 + 13/(12h) + (V+s)/(12 l h)), plus the final norm
    h, layers = model.hidden_size, model.num_layers
    closed = 12 * layers * h * h * (1 + 13 / (12 * h) + (model.vocab_size + model.max_seq_len)
                                    / (12 * layers * h))
    assert total == pytest.approx(closed + 2 * h, rel=1e-12)


def test_gpt3_175b_closed_form_and_split() -> None:
    counts = param_counts(CAT.model("gpt3-175b"))
    assert counts.embedding == (50257 + 2048) * 12288
    assert counts.attention == 96 * (4 * 12288**2 + 4 * 12288)
    assert counts.mlp == 96 * (8 * 12288**2 + 5 * 12288)
    assert counts.router == 0


def test_layer_split_llama2_7b() -> None:
    model = CAT.model("llama2-7b")
    layer = layer_params(model, 0)
    assert layer.attention == 4 * 4096 * 4096
    assert layer.mlp == 3 * 4096 * 11008
    assert layer.norms == 2 * 4096
    assert embedding_params(model) == 2 * 32000 * 4096
    with pytest.raises(IndexError):
        layer_params(model, 32)


def test_gqa_shrinks_attention() -> None:
    llama3 = CAT.model("llama3-70b")
    mha = llama3.model_copy(update={"num_kv_heads": None})
    # 64 heads of 128: K and V shrink from 8192 to 1024 outputs each
    assert attention_params(mha) - attention_params(llama3) == 2 * 8192 * (8192 - 1024)


def test_deepseek_v3_dense_and_moe_layers() -> None:
    model = CAT.model("deepseek-v3")
    dense, moe = layer_params(model, 2), layer_params(model, 3)
    assert dense.mlp == 3 * 7168 * 18432 and dense.router == 0
    expert = 3 * 7168 * 2048
    assert moe.mlp == 257 * expert
    assert moe.mlp_active == 9 * expert
    assert moe.router == 7168 * 256


def test_mla_without_ranks_is_rejected() -> None:
    broken = CAT.model("deepseek-v3").model_copy(update={"kv_lora_rank": None})
    with pytest.raises(ValueError, match="kv_lora_rank"):
        attention_params(broken)


@given(
    layers=st.integers(1, 8), heads=st.sampled_from([4, 8, 16]), kv_div=st.sampled_from([1, 2, 4]),
    head_dim=st.sampled_from([16, 32]), ffn=st.integers(8, 512), vocab=st.integers(10, 5000),
    experts=st.sampled_from([0, 4, 8]), top_k=st.integers(1, 2), dense=st.integers(0, 2),
    tied=st.booleans(), gated=st.booleans(),
)
def test_counts_are_consistent(layers: int, heads: int, kv_div: int, head_dim: int, ffn: int,
                               vocab: int, experts: int, top_k: int, dense: int, tied: bool,
                               gated: bool) -> None:
    model = ModelSpec(
        name="toy", source="hypothesis toy model", num_layers=layers,
        hidden_size=heads * head_dim, num_attention_heads=heads, num_kv_heads=heads // kv_div,
        ffn_hidden_size=ffn, vocab_size=vocab, max_seq_len=128, tied_embeddings=tied,
        mlp_kind="swiglu" if gated else "gelu", num_experts=experts,
        num_experts_per_token=top_k if experts else 0, num_dense_layers=dense if experts else 0,
    )
    counts = param_counts(model)
    by_layer = sum(layer_params(model, i).total for i in range(layers))
    final_norm = model.hidden_size
    assert counts.total == counts.embedding + by_layer + final_norm
    assert counts.active <= counts.total
    if experts == 0 or dense >= layers:
        assert counts.active == counts.total
    else:
        assert counts.active < counts.total
    untied = model.model_copy(update={"tied_embeddings": False})
    assert total_params(untied) - counts.total == (0 if not tied else vocab * model.hidden_size)
