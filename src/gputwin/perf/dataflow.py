"""Serving on SRAM-resident dataflow parts (Groq LPU, Cerebras wafer-scale).

Not a GPU roofline: weights never leave on-chip SRAM, so a model is spread over as many
chips as its weights and KV cache need, and each token flows through the layers in a
statically scheduled pipeline. Per-token decode time is the sum over layers of the SRAM
read (or compute) of that layer's share of the chips plus a fixed per-layer latency, paid
``moe_layer_factor`` times on a layer with experts (a part's: on Groq the token's trip out
to the chips holding its experts and back; a wafer holds a whole layer's experts), plus a
stack's ``system_hop_s`` for each crossing between the systems a model spans
(``perf/dataflow.yaml``, formulas there). The per-layer latency belongs to a
vendor's *software stack* (a dated release): compilers and kernels move it between
releases on the same silicon, and a release may run speculative decoding on large models
(a speed-up of their per-token time), so each stack is fitted to published figures of its
time, named in its sources, and every other figure is a validation case
(``validation/cases/dataflow.yaml``). The newest stack is the default.

Pipelining lets ``depth = min(layers, chips)`` groups of ``batch`` sequences be in flight
at once, so the system output rate is ``batch x depth / TPOT`` -- an upper bound, not
validated (vendors publish per-user speed). Prefill is compute-bound: ``2 x active params
x prompt / (chips x peak)`` plus one pass of the pipeline latency.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gputwin.catalog.model_math import active_params_per_token, num_moe_layers, total_params
from gputwin.catalog.schema import Accelerator, ModelSpec
from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import load_validated

_BYTES = {"int8": 1.0, "fp8": 1.0, "bf16": 2.0, "fp16": 2.0, "int4": 0.5, "fp4": 0.5}


class Speculation(BaseModel):
    """Speculative decoding a stack runs on large models: a small draft proposes tokens
    the target verifies in one pass, ``speedup`` x fewer target passes per token."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    speedup: float = Field(ge=1)
    min_params: float = Field(gt=0, description="Models this large (total parameters) get "
                              "a draft; smaller ones have none worth running")
    models: tuple[str, ...] | None = Field(
        default=None, description="Only these catalog models (the endpoints the vendor "
        "served with a draft in this release); None = every model of min_params or more")
    source: str = Field(min_length=8)

    def applies_to(self, model: ModelSpec) -> bool:
        if self.models is not None and model.name not in self.models:
            return False
        return total_params(model) >= self.min_params


class SoftwareStack(BaseModel):
    """One dated release of a vendor's serving stack."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    layer_latency_s: float = Field(ge=0)
    source: str = Field(min_length=8)
    system_hop_s: float = Field(
        default=0.0, ge=0, description="Time a token spends crossing from one system to the "
        "next of a model spread over several (chips_per_system), on top of the per-layer "
        "latency")
    system_hop_source: str | None = None
    speculation: Speculation | None = None

    @model_validator(mode="after")
    def _hop_has_a_source(self) -> SoftwareStack:
        if self.system_hop_s > 0 and not self.system_hop_source:
            raise ValueError("system_hop_s needs a system_hop_source")
        return self


class DataflowPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    weights_dtype: str
    usable_frac: float = Field(gt=0, le=1)
    usable_source: str = Field(min_length=8)
    moe_layer_factor: float = Field(ge=1, description="Times a layer with experts pays the "
                                    "per-layer latency")
    moe_layer_factor_source: str = Field(min_length=8)
    chips_per_system: int = Field(ge=1, description="Chips of one system (Groq: a GroqRack "
                                  "of 72 LPUs; Cerebras: one wafer per CS-3)")
    stacks: dict[str, SoftwareStack] = Field(min_length=1)

    @property
    def newest_stack(self) -> str:
        return max(self.stacks)


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    parts: dict[str, DataflowPart]


@functools.cache
def dataflow_table() -> _Table:
    return load_validated(Path(__file__).parent / "dataflow.yaml", _Table)


def dataflow_parts() -> dict[str, DataflowPart]:
    return dict(dataflow_table().parts)


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
    stack: str
    speculation_speedup: float  # 1.0 when the stack runs no draft for this model
    system_crossings: int  # boundaries between systems a token crosses
    system_hops_s: float  # their time per token before speculation (system_hop_s each)

    def to_dict(self) -> dict[str, float | str]:
        return {k: (getattr(self, k) if k == "stack" else float(getattr(self, k)))
                for k in self.__slots__}


def _kv_bytes_per_token(model: ModelSpec, dtype_bytes: float) -> float:
    heads = model.num_kv_heads or model.num_attention_heads
    head_dim = model.head_dim or model.hidden_size // model.num_attention_heads
    return 2.0 * model.num_layers * heads * head_dim * dtype_bytes


def estimate_dataflow(acc: Accelerator, model: ModelSpec, *, input_tokens: int,
                      output_tokens: int, batch_size: int = 1,
                      weights_dtype: str | None = None,
                      stack: str | None = None) -> DataflowEstimate:
    """Speed of ``model`` on ``acc`` under software ``stack`` (default: the part's newest;
    module docstring). Raises :class:`UnknownNameError` for a part without dataflow
    parameters or an unknown stack, :class:`InputError` for bad sizes."""
    table = dataflow_table()
    if acc.name not in table.parts:
        raise UnknownNameError("dataflow part", acc.name, list(table.parts), where="--gpu")
    if min(input_tokens, output_tokens, batch_size) < 1:
        raise InputError("input/output tokens and batch size must be positive")
    from gputwin.perf.serving import context_problem

    too_long = context_problem(model, input_tokens, output_tokens)
    if too_long is not None:
        raise InputError(too_long)
    part = table.parts[acc.name]
    stack = part.newest_stack if stack is None else stack
    if stack not in part.stacks:
        raise UnknownNameError(f"{acc.name} software stack", stack, sorted(part.stacks),
                               where="--stack")
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
    latency_layers = layers + num_moe_layers(model) * (part.moe_layer_factor - 1.0)
    sw = part.stacks[stack]
    hops = math.ceil(chips / part.chips_per_system) - 1
    tpot = (layers * max(read_s, math_s) + latency_layers * sw.layer_latency_s
            + hops * sw.system_hop_s)
    speedup = (sw.speculation.speedup if sw.speculation is not None
               and sw.speculation.applies_to(model) else 1.0)
    tpot /= speedup
    prefill = 2.0 * active * input_tokens * batch_size / (chips * peak)
    depth = min(layers, chips)
    return DataflowEstimate(chips, tpot, 1.0 / tpot, prefill + tpot, batch_size * depth / tpot,
                            wbytes, kv, stack, speedup, hops, hops * sw.system_hop_s)
