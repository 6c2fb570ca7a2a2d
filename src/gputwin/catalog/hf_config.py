"""Build a :class:`ModelSpec` from a Hugging Face ``config.json``.

Supported key styles (by ``model_type``): Llama / Mistral / Mixtral / Qwen2 / Gemma and
other Llama-like models, DeepSeek-V2/V3 (MoE + MLA), GPT-2, GPT-NeoX and OPT. Unknown
``model_type`` values are read with the Llama-style keys.

Errors (missing file, invalid JSON, missing or invalid key) raise :class:`InputError`
naming the file and the key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError
from gputwin.textio import read_text

_MISSING = object()

#: model types whose MLP is the plain two-matrix kind (GELU/ReLU, no gate): GPT-2-era
#: models, StarCoder2, Phi-1/2 and Nemotron (squared ReLU)
_PLAIN_MLP_TYPES = {"gpt2", "gpt_neox", "opt", "gptj", "bloom", "falcon", "gpt_bigcode",
                    "gpt_neo", "starcoder2", "phi", "nemotron"}
#: activations only used without a gate: a config naming one has a two-matrix MLP whatever
#: its model_type (``hidden_act`` alone does not tell: Llama's gated MLP says "silu",
#: Gemma's "gelu_pytorch_tanh")
_UNGATED_ACTIVATIONS = {"relu2", "relu_squared", "squared_relu"}


class _Reader:
    """Typed access to the JSON mapping; every failure names the file and the key."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def _get(self, keys: tuple[str, ...], default: Any) -> Any:
        for key in keys:
            value = self.data.get(key)
            if value is not None:
                return value
        if default is _MISSING:
            raise InputError(
                f"missing key {' or '.join(repr(k) for k in keys)} (needed for a "
                f"{self.data.get('model_type', 'llama-style')!r} config)",
                where=self.where,
            )
        return default

    def get_int(self, *keys: str, default: Any = _MISSING) -> Any:
        value = self._get(keys, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"key {keys[0]!r}: expected a non-negative integer, got {value!r}",
                             where=self.where)
        return value

    def get_bool(self, *keys: str, default: bool) -> bool:
        value = self._get(keys, default)
        if not isinstance(value, bool):
            raise InputError(f"key {keys[0]!r}: expected true or false, got {value!r}",
                             where=self.where)
        return value


def _config_path(path: Path) -> Path:
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise InputError("no such Hugging Face config.json", where=str(path))
    return path


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9.\-]+", "-", text.lower()).strip("-.")
    return slug or "hf-model"


def _name_for(data: dict[str, Any], path: Path) -> str:
    raw = data.get("_name_or_path")
    if isinstance(raw, str) and raw.strip():
        return _slug(raw.rstrip("/").split("/")[-1])
    stem = path.parent.name if path.name == "config.json" else path.stem
    return _slug(stem)


def _common(r: _Reader) -> dict[str, Any]:
    """Llama-style keys, shared by most modern decoders."""
    return {
        "num_layers": r.get_int("num_hidden_layers", "n_layer", "num_layers"),
        "hidden_size": r.get_int("hidden_size", "n_embd", "d_model"),
        "num_attention_heads": r.get_int("num_attention_heads", "n_head"),
        "num_kv_heads": r.get_int("num_key_value_heads", default=None),
        "head_dim": r.get_int("head_dim", default=None),
        "ffn_hidden_size": r.get_int("intermediate_size", "ffn_dim", "n_inner"),
        "vocab_size": r.get_int("vocab_size"),
        "max_seq_len": r.get_int("max_position_embeddings", "n_positions", "seq_length"),
        "tied_embeddings": r.get_bool("tie_word_embeddings", default=False),
    }


def _llama_like(r: _Reader, model_type: str) -> dict[str, Any]:
    fields = _common(r)
    act = r.data.get("hidden_act", r.data.get("activation_function"))
    plain = model_type in _PLAIN_MLP_TYPES or act in _UNGATED_ACTIVATIONS
    fields["mlp_kind"] = "gelu" if plain else "swiglu"
    fields["qkv_bias"] = model_type.startswith("qwen2") or r.get_bool(
        "attention_bias", default=False
    )
    experts = r.get_int("num_local_experts", "num_experts", default=0)
    if experts:
        fields["num_experts"] = experts
        fields["num_experts_per_token"] = r.get_int("num_experts_per_tok")
        fields["moe_ffn_hidden_size"] = r.get_int("moe_intermediate_size", default=None)
    fields.update(_sliding_window_layers(r))
    if model_type == "gpt_oss":  # biases on every projection, a sink logit per head
        fields.update(linear_bias=r.get_bool("attention_bias", default=True),
                      attention_sinks=True)
    return fields


def _sliding_window_layers(r: _Reader) -> dict[str, Any]:
    """``local_attention_window``/``_layers`` from transformers' per-layer ``layer_types``
    (``"sliding_attention"`` entries) and ``sliding_window``; nothing when either is absent."""
    types = r.data.get("layer_types")
    window = r.get_int("sliding_window", default=None)
    if not isinstance(types, list) or not window:
        return {}
    local = sum(1 for t in types if t == "sliding_attention")
    return {"local_attention_window": window, "local_attention_layers": local} if local else {}


def _deepseek(r: _Reader) -> dict[str, Any]:
    fields = _common(r)
    nope, rope = r.get_int("qk_nope_head_dim"), r.get_int("qk_rope_head_dim")
    fields.update(
        mlp_kind="swiglu",
        head_dim=nope + rope,
        num_experts=r.get_int("n_routed_experts", default=0),
        num_experts_per_token=r.get_int("num_experts_per_tok", default=0),
        moe_ffn_hidden_size=r.get_int("moe_intermediate_size", default=None),
        num_shared_experts=r.get_int("n_shared_experts", default=0),
        num_dense_layers=r.get_int("first_k_dense_replace", default=0),
        num_expert_groups=r.get_int("n_group", default=1) or 1,
        expert_groups_per_token=r.get_int("topk_group", default=1) or 1,
        attention_kind="mla",
        q_lora_rank=r.get_int("q_lora_rank", default=None),
        kv_lora_rank=r.get_int("kv_lora_rank"),
        qk_nope_head_dim=nope,
        qk_rope_head_dim=rope,
        v_head_dim=r.get_int("v_head_dim"),
    )
    return fields


def _gpt2(r: _Reader) -> dict[str, Any]:
    hidden = r.get_int("n_embd")
    return {
        "num_layers": r.get_int("n_layer"),
        "hidden_size": hidden,
        "num_attention_heads": r.get_int("n_head"),
        "ffn_hidden_size": r.get_int("n_inner", default=None) or 4 * hidden,
        "vocab_size": r.get_int("vocab_size"),
        "max_seq_len": r.get_int("n_positions", "n_ctx"),
        "mlp_kind": "gelu",
        "tied_embeddings": r.get_bool("tie_word_embeddings", default=True),
        "norm_kind": "layernorm",
        "linear_bias": True,
        "position_embedding": "learned",
    }


def _neox(r: _Reader) -> dict[str, Any]:
    fields = _common(r)
    fields.update(mlp_kind="gelu", norm_kind="layernorm", linear_bias=True)
    return fields


def _opt(r: _Reader) -> dict[str, Any]:
    fields = _common(r)
    fields.update(
        mlp_kind="gelu",
        tied_embeddings=r.get_bool("tie_word_embeddings", default=True),
        norm_kind="layernorm",
        linear_bias=r.get_bool("enable_bias", default=True),
        position_embedding="learned",
    )
    return fields


def _fields_for(r: _Reader) -> dict[str, Any]:
    model_type = str(r.data.get("model_type", "llama")).lower()
    if model_type in ("deepseek_v3", "deepseek_v2"):
        return _deepseek(r)
    if model_type == "gpt2":
        return _gpt2(r)
    if model_type == "gpt_neox":
        return _neox(r)
    if model_type == "opt":
        return _opt(r)
    return _llama_like(r, model_type)


def model_from_hf_config(path: Path) -> ModelSpec:
    """Read ``path`` (a ``config.json`` or a folder holding one) into a :class:`ModelSpec`.

    The name comes from ``_name_or_path`` (last path part) or the folder/file name; the
    source is the file path. Raises :class:`InputError` for a missing file, invalid JSON,
    or a missing/invalid key (the message names the file and the key).
    """
    path = _config_path(Path(path))
    where = str(path)
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", where=f"{where}:{exc.lineno}") from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", where=where)
    fields = _fields_for(_Reader(data, where))
    fields = {k: v for k, v in fields.items() if v is not None}
    arch = data.get("architectures")
    family = str(data.get("model_type", ""))
    description = f"Hugging Face config ({', '.join(arch)})" if isinstance(arch, list) else ""
    try:
        return ModelSpec(
            name=_name_for(data, path),
            family=family,
            description=description,
            source=f"Hugging Face config.json: {where}",
            **fields,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InputError(f"invalid value for {field}: {err['msg']}", where=where) from None
