"""Serving on SRAM-resident dataflow parts (Groq LPU, Cerebras wafer-scale).

Not a GPU roofline: weights never leave on-chip SRAM, so a model is spread over as many
chips as its weights and KV cache need, and each token flows through the layers in a
statically scheduled pipeline. Per-token decode time is the sum over layers of the SRAM
read (or compute) of that layer's share of the chips plus a fixed per-layer latency
(``perf/dataflow.yaml``; formulas there). Pipelining lets ``depth = min(layers, chips)``
groups of ``batch`` sequences be in flight at once, so the system output rate is
``batch x depth / TPOT`` -- an upper bound, not validated (vendors publish per-user
speed). Prefill is compute-bound: ``2 x active params x prompt / (chips x peak)`` plus one
pass of the pipeline latency.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gputwin.catalog.model_math import active_params_per_token, total_params
from gputwin.catalog.schema import Accelerator, ModelSpec
from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import load_validated

_BYTES = {"int8": 1.0, "fp8": 1.0, "bf16": 2.0, "fp16": 2.0, "int4": 0.5, "fp4": 0.5}


class DataflowPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    weights_dtype: str
    usable_frac: float = Field(gt=0, le=1)
    layer_latency_s: float = Field(ge=0)
    source: str = Field(min_length=8)


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    parts: dict[str, DataflowPart]


@functools.cache
def dataflow_parts() -> dict[str, DataflowPart]:
    return dict(load_validated(Path(__file__).parent / "dataflow.yaml", _Table).parts)


def is_dataflow(accelerator: str) -> bool:
    return accelerator in dataflow_parts()


@dataclass(frozen=True, slots=True)
class DataflowEstimate:
    chips: int
    tpot_s: float
    tokens_per_s_per_user: float
    ttft_s: float
    system_output_tokens_per_s: float
    weights_bytes: float
    kv_bytes: float

    def to_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.__slots__}


def _kv_bytes_per_token(model: ModelSpec, dtype_bytes: float) -> float:
    heads = model.num_kv_heads or model.num_attention_heads
    head_dim = model.head_dim or model.hidden_size // model.num_attention_heads
    return 2.0 * model.num_layers * heads * head_dim * dtype_bytes


def estimate_dataflow(acc: Accelerator, model: ModelSpec, *, input_tokens: int,
                      output_tokens: int, batch_size: int = 1,
                      weights_dtype: str | None = None) -> DataflowEstimate:
    """Speed of ``model`` on ``acc`` (module docstring). Raises :class:`UnknownNameError`
    for a part without dataflow parameters, :class:`InputError` for bad sizes."""
    parts = dataflow_parts()
    if acc.name not in parts:
        raise UnknownNameError("dataflow part", acc.name, list(parts), where="--gpu")
    if min(input_tokens, output_tokens, batch_size) < 1:
        raise InputError("input/output tokens and batch size must be positive")
    part = parts[acc.name]
    dtype = weights_dtype or part.weights_dtype
    if dtype not in _BYTES:
        raise UnknownNameError("weights dtype", dtype, list(_BYTES), where="--weights")
    wbytes = total_params(model) * _BYTES[dtype]
    kv = _kv_bytes_per_token(model, _BYTES[dtype]) * (input_tokens + output_tokens) * batch_size
    chips = math.ceil((wbytes + kv) / (acc.memory_bytes * part.usable_frac))
    layers = model.num_layers
    per_layer_chips = max(chips / layers, 1.0)
    active = active_params_per_token(model)
    peaks: dict[str, float] = {str(k): v for k, v in acc.peak_flop_per_s.items()}
    peak = peaks.get(dtype, peaks["bf16"])
    read_s = active * _BYTES[dtype] / layers / (per_layer_chips * acc.memory_bandwidth_bytes_per_s)
    math_s = 2.0 * active / layers * batch_size / (per_layer_chips * peak)
    moe = 2.0 if (model.num_experts or 0) > 1 else 1.0
    tpot = layers * (max(read_s, math_s) + moe * part.layer_latency_s)
    prefill = 2.0 * active * input_tokens * batch_size / (chips * peak)
    depth = min(layers, chips)
    return DataflowEstimate(chips, tpot, 1.0 / tpot, prefill + tpot, batch_size * depth / tpot,
                            wbytes, kv)
