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
releases on the same silicon, and a release may run speculative decoding on large models:
physically (a draft model's own pipeline time for k tokens plus one verification pass of the
target, an acceptance per draft token, the best k) or as an effective speed-up where the
physical terms cannot reach the published gain. Each stack is fitted to published figures of
its time, named in its sources, and every other figure is a validation case
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
from gputwin.perf.gemm import OPERAND_BYTES
from gputwin.perf.speculation import expected_accepted_tokens
from gputwin.yaml_io import load_validated

#: Weight formats the SRAM-resident parts are published with; their bytes are the GEMM
#: operand sizes (:data:`gputwin.perf.gemm.OPERAND_BYTES`).
WEIGHT_DTYPES = ("int8", "fp8", "bf16", "fp16", "int4", "fp4")
_BYTES = {dtype: OPERAND_BYTES[dtype] for dtype in WEIGHT_DTYPES}


class Speculation(BaseModel):
    """Speculative decoding a stack runs on large models: a small draft proposes tokens the
    target verifies in one pass. Either physical (``acceptance`` and ``draft_model``: the
    draft's own pipeline time, k draft tokens per verification, k chosen for speed) or an
    effective ``speedup`` fitted where the physical terms cannot reach the published gain."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    speedup: float | None = Field(default=None, ge=1, description="Effective speed-up of "
                                  "the per-token time (fitted), instead of the physical terms")
    acceptance: float | None = Field(default=None, gt=0, lt=1, description="Probability "
                                     "the target accepts a draft token")
    draft_model: str | None = Field(default=None, description="Catalog model whose pipeline "
                                    "time on the same part and stack stands for the draft's")
    max_draft_tokens: int = Field(default=8, ge=1, description="Most draft tokens per "
                                  "verification (the best k up to this is used)")
    min_params: float = Field(gt=0, description="Models this large (total parameters) get "
                              "a draft; smaller ones have none worth running")
    models: tuple[str, ...] | None = Field(
        default=None, description="Only these catalog models (the endpoints the vendor "
        "served with a draft in this release); None = every model of min_params or more")
    source: str = Field(min_length=8)

    @model_validator(mode="after")
    def _one_kind(self) -> Speculation:
        partly_physical = self.acceptance is not None or self.draft_model is not None
        physical = self.acceptance is not None and self.draft_model is not None
        if not ((self.speedup is not None and not partly_physical)
                or (self.speedup is None and physical)):
            raise ValueError("give either speedup, or acceptance and draft_model")
        return self

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
    moe_local_chips: int | None = Field(
        default=None, ge=1, description="A layer on at most this many chips keeps its experts "
        "inside one directly connected group and pays the latency once (Groq: the 8-LPU "
        "GroqNode); None = every MoE layer pays moe_layer_factor")
    chips_per_system: int = Field(ge=1, description="Chips of one system (Groq: a GroqRack "
                                  "of 72 LPUs; Cerebras: one wafer per CS-3)")
    chip_noun: str = Field(default="chips", description="What one chip is called in output "
                           "(LPUs; wafers)")
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
    draft_tokens: int  # k proposed per verification (physical speculation); 0 otherwise
    system_crossings: int  # boundaries between systems a token crosses
    system_hops_s: float  # their time per token before speculation (system_hop_s each)
    weights_dtype: str
    layer_latency_s: float  # the stack's fixed time per layer crossing
    usable_sram_frac: float  # share of each chip's SRAM the sizing counts on
    draft_model: str  # "" when no physical draft runs
    draft_acceptance: float  # 0.0 when no physical draft runs

    def to_dict(self) -> dict[str, float | str]:
        return {k: (v if isinstance(v := getattr(self, k), str) else float(v))
                for k in self.__slots__}


def _kv_bytes_per_token(model: ModelSpec, dtype_bytes: float) -> float:
    heads = model.num_kv_heads or model.num_attention_heads
    head_dim = model.head_dim or model.hidden_size // model.num_attention_heads
    return 2.0 * model.num_layers * heads * head_dim * dtype_bytes


@dataclass(frozen=True, slots=True)
class _Layout:
    """A model spread over a part's chips: sizes and the stack it runs under."""

    acc: Accelerator
    part: DataflowPart
    sw: SoftwareStack
    model: ModelSpec
    dtype: str
    chips: int
    weights_bytes: float
    kv_bytes: float

    @property
    def peak_flop_per_s(self) -> float:
        peaks: dict[str, float] = {str(k): v for k, v in self.acc.peak_flop_per_s.items()}
        return peaks.get(self.dtype, peaks["bf16"])

    @property
    def system_crossings(self) -> int:
        return math.ceil(self.chips / self.part.chips_per_system) - 1

    def pass_time_s(self, tokens: int) -> float:
        """One trip of ``tokens`` tokens per sequence (batch included in the chip sizing)
        through the pipeline: per layer the larger of the SRAM read of the layer's weights
        and their math, plus the fixed latencies and system crossings."""
        m, layers = self.model, self.model.num_layers
        per_layer_chips = max(self.chips / layers, 1.0)
        active = active_params_per_token(m)
        read_s = active * _BYTES[self.dtype] / layers / (
            per_layer_chips * self.acc.memory_bandwidth_bytes_per_s)
        math_s = 2.0 * active / layers * tokens / (per_layer_chips * self.peak_flop_per_s)
        local = self.part.moe_local_chips
        factor = 1.0 if local is not None and per_layer_chips <= local else \
            self.part.moe_layer_factor
        latency_layers = layers + num_moe_layers(m) * (factor - 1.0)
        return (layers * max(read_s, math_s) + latency_layers * self.sw.layer_latency_s
                + self.system_crossings * self.sw.system_hop_s)


def _layout(acc: Accelerator, part: DataflowPart, stack: str, model: ModelSpec, dtype: str,
            context_tokens: int, batch_size: int) -> _Layout:
    """chips = ceil((weights + KV cache) / (SRAM per chip x usable share))."""
    wbytes = total_params(model) * _BYTES[dtype]
    kv = _kv_bytes_per_token(model, _BYTES[dtype]) * context_tokens * batch_size
    chips = math.ceil((wbytes + kv) / (acc.memory_bytes * part.usable_frac))
    return _Layout(acc, part, part.stacks[stack], model, dtype, chips, wbytes, kv)


def _speculation(lay: _Layout, stack: str, context_tokens: int,
                 batch_size: int) -> tuple[float, int]:
    """(speed-up of the per-token time, draft tokens k) of the stack's draft on this model.

    Physical: a round drafts k tokens on the draft's own chips (k x its per-token pipeline
    time, same part and stack) and verifies them in one target pass carrying k + 1 tokens,
    emitting ``(1 - a^(k+1)) / (1 - a)`` tokens on average; the best k up to
    ``max_draft_tokens`` is used, none when no k beats plain decoding."""
    spec = lay.sw.speculation
    if spec is None or not spec.applies_to(lay.model):
        return 1.0, 0
    if spec.speedup is not None:
        return spec.speedup, 0
    from gputwin.catalog.loader import default_catalog

    assert spec.acceptance is not None and spec.draft_model is not None  # the validator's
    draft_model = default_catalog().model(spec.draft_model)
    draft = _layout(lay.acc, lay.part, stack, draft_model, lay.dtype, context_tokens,
                    batch_size)
    t_draft, t_plain = draft.pass_time_s(batch_size), lay.pass_time_s(batch_size)
    best, best_k = t_plain, 0
    for k in range(1, spec.max_draft_tokens + 1):
        verify_s = lay.pass_time_s(batch_size * (k + 1))
        per_token = (k * t_draft + verify_s) / expected_accepted_tokens(
            spec.acceptance, k)
        if per_token < best:
            best, best_k = per_token, k
    return t_plain / best, best_k


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
    context = input_tokens + output_tokens
    lay = _layout(acc, part, stack, model, dtype, context, batch_size)
    speedup, k = _speculation(lay, stack, context, batch_size)
    one_pass = lay.pass_time_s(batch_size)
    tpot = one_pass / speedup
    # the prompt's math spread over every chip, then the pass that yields the first token
    # (a prefill pass: the speculative speed-up only shortens the tokens after it)
    prefill = 2.0 * active_params_per_token(model) * input_tokens * batch_size / (
        lay.chips * lay.peak_flop_per_s)
    depth = min(model.num_layers, lay.chips)
    hops = lay.system_crossings
    spec = lay.sw.speculation if k > 0 else None
    return DataflowEstimate(
        lay.chips, tpot, 1.0 / tpot, prefill + one_pass, batch_size * depth / tpot,
        lay.weights_bytes, lay.kv_bytes, stack, speedup, k, hops, hops * lay.sw.system_hop_s,
        dtype, lay.sw.layer_latency_s, part.usable_frac,
        spec.draft_model or "" if spec is not None else "",
        spec.acceptance or 0.0 if spec is not None else 0.0)
