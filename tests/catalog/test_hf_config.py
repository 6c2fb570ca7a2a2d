"""Hugging Face config.json loading: key styles, naming, and error messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gputwin.catalog.hf_config import model_from_hf_config
from gputwin.catalog.loader import default_catalog
from gputwin.catalog.model_math import active_params_per_token, total_params
from gputwin.errors import InputError

LLAMA2_7B: dict[str, Any] = {
    "_name_or_path": "meta-llama/Llama-2-7b-hf", "architectures": ["LlamaForCausalLM"],
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "vocab_size": 32000, "max_position_embeddings": 4096, "tie_word_embeddings": False,
    "hidden_act": "silu", "rms_norm_eps": 1e-5,
}
MIXTRAL: dict[str, Any] = {
    "model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "vocab_size": 32000, "max_position_embeddings": 32768, "num_local_experts": 8,
    "num_experts_per_tok": 2, "tie_word_embeddings": False,
}
DEEPSEEK_V3: dict[str, Any] = {
    "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_attention_heads": 128, "num_key_value_heads": 128,
    "num_hidden_layers": 61, "first_k_dense_replace": 3, "n_routed_experts": 256,
    "n_shared_experts": 1, "num_experts_per_tok": 8, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280,
    "max_position_embeddings": 163840, "tie_word_embeddings": False, "n_group": 8,
    "topk_group": 4,
}
GPT2_SMALL: dict[str, Any] = {
    "model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024,
    "vocab_size": 50257, "activation_function": "gelu_new",
}
PYTHIA_160M: dict[str, Any] = {
    "model_type": "gpt_neox", "num_hidden_layers": 12, "hidden_size": 768,
    "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 50304,
    "max_position_embeddings": 2048, "tie_word_embeddings": False, "rotary_pct": 0.25,
}
OPT_125M: dict[str, Any] = {
    "model_type": "opt", "num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
    "ffn_dim": 3072, "vocab_size": 50272, "max_position_embeddings": 2048,
    "word_embed_proj_dim": 768, "enable_bias": True,
}
QWEN2_TINY: dict[str, Any] = {
    "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
    "vocab_size": 1000, "max_position_embeddings": 512, "tie_word_embeddings": True,
}


GPT_OSS_20B: dict[str, Any] = {  # openai/gpt-oss-20b config.json (the keys read)
    "model_type": "gpt_oss", "architectures": ["GptOssForCausalLM"], "hidden_size": 2880,
    "intermediate_size": 2880, "head_dim": 64, "num_attention_heads": 64,
    "num_key_value_heads": 8, "num_hidden_layers": 24, "num_local_experts": 32,
    "num_experts_per_tok": 4, "vocab_size": 201088, "max_position_embeddings": 131072,
    "attention_bias": True, "sliding_window": 128, "tie_word_embeddings": False,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
}


def write(folder: Path, data: Any, name: str = "config.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_llama_config_matches_catalog_entry(tmp_path: Path) -> None:
    spec = model_from_hf_config(write(tmp_path / "x", LLAMA2_7B))
    catalog = default_catalog().model("llama2-7b")
    assert spec.name == "llama-2-7b-hf"
    assert str(tmp_path) in spec.source
    fields = ("num_layers", "hidden_size", "num_attention_heads", "kv_heads", "ffn_hidden_size",
              "vocab_size", "max_seq_len", "mlp_kind", "tied_embeddings")
    assert {f: getattr(spec, f) for f in fields} == {f: getattr(catalog, f) for f in fields}
    assert total_params(spec) == 6_738_415_616  # HF safetensors total of Llama-2-7b-hf


def test_folder_and_file_give_the_same_model(tmp_path: Path) -> None:
    path = write(tmp_path / "my-model", {k: v for k, v in LLAMA2_7B.items()
                                         if k != "_name_or_path"})
    by_file, by_folder = model_from_hf_config(path), model_from_hf_config(path.parent)
    assert by_file == by_folder
    assert by_file.name == "my-model"


def test_catalog_model_dispatches_paths(tmp_path: Path) -> None:
    path = write(tmp_path / "mixtral", MIXTRAL)
    spec = default_catalog().model(str(path.parent))
    assert spec.num_experts == 8 and spec.num_experts_per_token == 2
    assert total_params(spec) == pytest.approx(46.7e9, rel=0.01)
    assert active_params_per_token(spec) == pytest.approx(12.9e9, rel=0.01)


def test_deepseek_v3_config(tmp_path: Path) -> None:
    spec = model_from_hf_config(write(tmp_path / "DeepSeek-V3", DEEPSEEK_V3))
    assert spec.attention_kind == "mla" and spec.num_dense_layers == 3
    assert total_params(spec) == total_params(default_catalog().model("deepseek-v3"))
    assert total_params(spec) == pytest.approx(671e9, rel=0.01)
    # node-limited routing: 8 expert groups, a token's experts from its best 4
    catalog = default_catalog().model("deepseek-v3")
    assert (spec.num_expert_groups, spec.expert_groups_per_token) == (8, 4)
    assert (catalog.num_expert_groups, catalog.expert_groups_per_token) == (8, 4)


def test_expert_groups_must_fit_the_experts(tmp_path: Path) -> None:
    for bad, needle in (({"topk_group": 9}, "exceeds num_expert_groups"),
                        ({"n_group": 7, "topk_group": 4}, "must divide num_experts")):
        with pytest.raises(InputError, match=needle):
            model_from_hf_config(write(tmp_path / f"ds-{len(needle)}", {**DEEPSEEK_V3, **bad}))


@pytest.mark.parametrize(
    ("config", "published"),
    [(GPT2_SMALL, 124_439_808),    # HF gpt2: 124,439,808 parameters
     (PYTHIA_160M, 162_322_944),   # HF EleutherAI/pythia-160m: 162,322,944 parameters
     (OPT_125M, 125_239_296)],     # HF facebook/opt-125m (positions have 2 offset rows)
    ids=["gpt2", "gpt-neox", "opt"],
)
def test_older_key_styles(tmp_path: Path, config: dict[str, Any], published: int) -> None:
    spec = model_from_hf_config(write(tmp_path / "m", config))
    assert total_params(spec) == pytest.approx(published, rel=1e-4)


def test_qwen2_has_qkv_bias(tmp_path: Path) -> None:
    spec = model_from_hf_config(write(tmp_path / "q", QWEN2_TINY))
    no_bias = spec.model_copy(update={"qkv_bias": False})
    # two layers, each with Q (64) + K (32) + V (32) biases
    assert total_params(spec) - total_params(no_bias) == 2 * (64 + 32 + 32)


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    bad = {k: v for k, v in LLAMA2_7B.items() if k != "intermediate_size"}
    path = write(tmp_path / "bad", bad)
    with pytest.raises(InputError) as err:
        model_from_hf_config(path)
    assert str(path) in str(err.value) and "intermediate_size" in str(err.value)


def test_invalid_value_names_key(tmp_path: Path) -> None:
    path = write(tmp_path / "bad", {**LLAMA2_7B, "num_hidden_layers": "thirty-two"})
    with pytest.raises(InputError, match="num_hidden_layers"):
        model_from_hf_config(path)
    path = write(tmp_path / "zero", {**LLAMA2_7B, "num_hidden_layers": 0})
    with pytest.raises(InputError, match=r"num_layers.*greater than 0"):
        model_from_hf_config(path)


@pytest.mark.parametrize(("text", "needle"), [("{not json", ":1"), ("[1, 2]", "JSON object")])
def test_bad_json(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path / "j", text)
    with pytest.raises(InputError) as err:
        model_from_hf_config(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"config\.json"):
        model_from_hf_config(tmp_path / "nowhere")


NEMOTRON_TINY: dict[str, Any] = {
    "model_type": "nemotron", "hidden_size": 64, "intermediate_size": 256,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 3,
    "vocab_size": 1000, "max_position_embeddings": 512, "hidden_act": "relu2",
}


@pytest.mark.parametrize("model_type", ["nemotron", "some-future-type"])
def test_squared_relu_mlp_has_two_matrices(tmp_path: Path, model_type: str) -> None:
    """Nemotron's squared-ReLU MLP has no gate: one up and one down projection per layer,
    where a SwiGLU reading would count a third (h x ffn) matrix in every layer."""
    config = {**NEMOTRON_TINY, "model_type": model_type}
    spec = model_from_hf_config(write(tmp_path / model_type, config))
    gated = model_from_hf_config(write(tmp_path / "llama", {**config, "model_type": "llama",
                                                            "hidden_act": "silu"}))
    assert spec.mlp_kind == "gelu" and gated.mlp_kind == "swiglu"
    assert total_params(gated) - total_params(spec) >= 3 * 64 * 256


def test_gated_gelu_stays_gated(tmp_path: Path) -> None:
    """Gemma names a GELU activation but its MLP is gated (three matrices)."""
    spec = model_from_hf_config(write(tmp_path / "g", {**QWEN2_TINY, "model_type": "gemma",
                                                        "hidden_act": "gelu_pytorch_tanh"}))
    assert spec.mlp_kind == "swiglu"


def test_gpt_oss_config_reads_windows_sinks_and_biases(tmp_path: Path) -> None:
    spec = model_from_hf_config(write(tmp_path / "gpt-oss-20b", GPT_OSS_20B))
    catalog = default_catalog().model("gpt-oss-20b")
    fields = ("local_attention_window", "local_attention_layers", "attention_sinks",
              "linear_bias", "head_dim", "kv_heads", "num_experts", "num_experts_per_token")
    assert {f: getattr(spec, f) for f in fields} == {f: getattr(catalog, f) for f in fields}
    assert total_params(spec) == total_params(catalog)


def test_layer_types_without_sliding_layers_add_no_window(tmp_path: Path) -> None:
    config = dict(QWEN2_TINY, sliding_window=64, layer_types=["full_attention"] * 2)
    spec = model_from_hf_config(write(tmp_path / "q", config))
    assert spec.local_attention_layers == 0 and spec.local_attention_window is None
    assert not spec.attention_sinks
