"""FLOP and parameter counts against published figures and the 6·N·D rule."""

from __future__ import annotations

import pytest

from gputwin.catalog import model_math
from gputwin.catalog.loader import Catalog
from gputwin.perf.flops import (
    active_params,
    arch_of,
    hardware_flops_per_token,
    layer_shapes,
    model_flops_per_token,
    total_params,
)


def test_gpt3_175b_matches_nemo_model_flops(catalog: Catalog) -> None:
    # NeMo 24.07 table: 782 TFLOP/s/GPU at 726 tokens/s/GPU -> 1.0771e12 FLOP per token.
    arch = arch_of(catalog.model("gpt3-175b"))
    assert model_flops_per_token(arch, 2048) == pytest.approx(782e12 / 726, rel=0.005)


def test_llama2_70b_matches_nemo_model_flops(catalog: Catalog) -> None:
    # NeMo 24.09 table: 768 TFLOP/s/GPU at 1,728 tokens/s/GPU.
    arch = arch_of(catalog.model("llama2-70b"))
    assert model_flops_per_token(arch, 4096) == pytest.approx(768e12 / 1728, rel=0.01)


def test_megatron_formula_for_gpt_models(catalog: Catalog) -> None:
    # Narayanan et al. eq. (3) without recompute: 72·l·h²·(1 + s/6h + V/12lh) per token.
    m = catalog.model("megatron-gpt-145.6b")
    arch = arch_of(m)
    n_l, h, s, v = m.num_layers, m.hidden_size, 2048, m.vocab_size
    megatron = 72 * n_l * h * h * (1 + s / (6 * h) + v / (12 * n_l * h))
    assert model_flops_per_token(arch, s) == pytest.approx(megatron, rel=1e-9)
    # ... and with full recomputation 96·l·h²·(1 + s/6h + V/16lh).
    full = 96 * n_l * h * h * (1 + s / (6 * h) + v / (16 * n_l * h))
    assert hardware_flops_per_token(arch, s, "full") == pytest.approx(full, rel=1e-9)


@pytest.mark.parametrize("name", ["gpt3-175b", "llama2-70b", "llama3-8b", "llama3.1-405b",
                                  "megatron-gpt-1t"])
def test_six_n_d_within_the_attention_term(catalog: Catalog, name: str) -> None:
    m = catalog.model(name)
    arch = arch_of(m)
    s = 2048
    n_params = total_params(arch)
    flops = model_flops_per_token(arch, s)
    attention = sum(n * 3 * shape.attn_core_flops_per_token(s) for shape, n in layer_shapes(arch))
    # 6·N counts the input embedding (no matmul) but not attention: compare the rest.
    emb = m.vocab_size * m.hidden_size
    # With tied embeddings the output layer reuses the input table, so it is a matmul after all.
    matmul_params = n_params - (0 if m.tied_embeddings else emb)
    assert flops - attention == pytest.approx(6 * matmul_params, rel=0.01)


@pytest.mark.parametrize("name", ["gpt3-175b", "llama2-70b", "llama3-70b", "mixtral-8x7b",
                                  "deepseek-v3", "megatron-gpt-529.6b"])
def test_parameter_count_agrees_with_catalog_math(catalog: Catalog, name: str) -> None:
    m = catalog.model(name)
    # The perf count ignores biases and learned position tables (< 0.5 %).
    assert total_params(arch_of(m)) == pytest.approx(model_math.total_params(m), rel=0.01)


def test_moe_active_parameters(catalog: Catalog) -> None:
    # Mistral AI: Mixtral 8x7B has 46.7B parameters, 12.9B active per token.
    arch = arch_of(catalog.model("mixtral-8x7b"))
    assert total_params(arch) == pytest.approx(46.7e9, rel=0.02)
    assert active_params(arch) == pytest.approx(12.9e9, rel=0.03)
    # DeepSeek-V3 report: 671B total, 37B activated.
    ds = arch_of(catalog.model("deepseek-v3"))
    assert total_params(ds) == pytest.approx(671e9, rel=0.03)
    assert active_params(ds) == pytest.approx(37e9, rel=0.06)


def test_gqa_and_mla_shrink_attention(catalog: Catalog) -> None:
    mha = arch_of(catalog.model("llama2-7b"))
    gqa = arch_of(catalog.model("llama3-8b"))
    kv = {a: layer_shapes(a)[0][0].kv_dim for a in (mha, gqa)}
    assert kv[gqa] == kv[mha] / 4  # 8 KV heads instead of 32
    mla = layer_shapes(arch_of(catalog.model("deepseek-v3")))[-1][0]
    assert mla.kv_dim == 512 + 64  # latent + decoupled rope key


def test_recompute_adds_hardware_flops(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("llama3-8b"))
    none, sel, full = (hardware_flops_per_token(arch, 8192, r)
                       for r in ("none", "selective", "full"))
    assert none == model_flops_per_token(arch, 8192) < sel < full
    assert full / none == pytest.approx(4 / 3, rel=0.02)  # one more forward of 3
