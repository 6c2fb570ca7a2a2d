"""Typed requests: one object per question, shared by the CLI, scenarios and the Python API.

A request holds names and numbers as a user gives them (catalog names, human quantities
such as ``"16M"`` tokens); ``gputwin.run`` resolves and answers it. Bad fields raise
:class:`InputError` naming the field (:func:`validated`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.limits import GpuCount, ReplicaCount, RequestCount
from gputwin.quantities import Bytes, PositiveCount, Seconds

Recompute = Literal["none", "selective", "full"]
#: Megatron-Core's ``recompute_modules``: what selective recomputation checkpoints
#: (perf/activations.py says what each frees).
RecomputeModule = Literal["core_attn", "layernorm", "mla_up_proj", "mlp", "moe", "moe_act",
                          "shared_experts"]
#: Megatron-Core's fine-grained activation offload (``offload_modules``): whose inputs go to
#: host memory (perf/activations.py says which stored tensors each names).
OffloadModule = Literal["attn_norm", "qkv_linear", "core_attn", "attn_proj", "mlp_norm",
                        "expert_fc1", "moe_act"]
TrainDType = Literal["bf16", "fp16", "fp8"]
PlanDType = Literal["bf16", "fp16", "fp8", "any"]
#: How MoE tokens reach their experts (perf/communication.py) and the pipeline schedule
#: (perf/pipeline.py); the CLI choices are read from these.
EpDispatcher = Literal["alltoall", "deepep", "hybridep"]
PipelineSchedule = Literal["1f1b", "dualpipe"]


class _Request(InputModel):
    """The rules of every user input (:class:`gputwin.input_model.InputModel`)."""


def check_burstgpt_filter(value: str | None, trace_format: str | None) -> str | None:
    """A BurstGPT row filter (Model or Log Type column) needs a BurstGPT trace: the one rule
    for scenarios' trace sources and planner requests (``trace_format`` None: no trace)."""
    if value is not None and trace_format != "burstgpt":
        raise ValueError("filters the rows of a BurstGPT trace; "
                         + ("there is no trace" if trace_format is None
                            else f"this trace is {trace_format}"))
    return value


class TrainLayout(_Request):
    """How a training job is split and run (Megatron-Core / NeMo / torchtitan knobs)."""

    tp: PositiveInt = 1
    pp: PositiveInt = 1
    cp: PositiveInt = 1
    ep: PositiveInt = 1
    interleave: PositiveInt = Field(default=1, description="Virtual pipeline stages per rank")
    micro_batch_size: PositiveInt = 1
    recompute: Recompute = "selective"
    recompute_modules: list[RecomputeModule] | None = Field(
        default=None, min_length=1, description="Modules selective recomputation checkpoints "
        "(Megatron-Core recompute_modules); default core_attn (recompute none: nothing)")
    recompute_num_layers: PositiveInt | None = Field(
        default=None, description="Full recomputation of only the first N layers of each "
        "pipeline chunk (Megatron-Core recompute_method block); default every layer")
    offload_activation_layers: int = Field(
        default=0, ge=0, description="Layers whose activations go to host memory during the "
        "forward pass and come back for the backward (Megatron-Core cpu_offloading_num_layers)")
    offload_modules: list[OffloadModule] | None = Field(
        default=None, min_length=1, description="Modules whose inputs go to host memory in "
        "every layer (Megatron-Core fine-grained activation offloading; any pp)")
    main_grads_fp32: bool = Field(
        default=False, description="Accumulate and reduce gradients in FP32 (Megatron-LM's "
        "default with bf16); BF16 otherwise (NeMo's performance recipes)")
    fused_cross_entropy: bool = Field(
        default=False, description="Transformer Engine's fused cross entropy (NeMo's "
        "recipes): the loss writes its gradient over the BF16 logits, no FP32 softmax kept")
    adam_moments_bf16: bool = Field(
        default=False, description="Keep Adam's two moments in BF16 (Megatron-Core's "
        "precision-aware optimizer, DeepSeek-V3); FP32 otherwise")
    zero_stage: int = Field(default=1, ge=0, le=3,
                            description="0 DDP, 1 distributed optimizer, 2 +grads, 3 FSDP")
    sequence_parallel: bool = False
    dtype: TrainDType = "bf16"
    balanced_stages: bool = Field(
        default=True, description="First/last pipeline stages give up layers when uneven")
    offload_optimizer: bool = Field(default=False, description="Adam state on the host")
    ep_dispatcher: EpDispatcher = Field(
        default="alltoall", description="MoE token dispatch: every top-k copy over the EP "
        "group (alltoall) or one copy per remote node forwarded over NVLink (deepep, "
        "hybridep)")
    ep_dispatch_fp8: bool = Field(
        default=False, description="Dispatch MoE tokens in FP8 (DeepSeek-V3), not BF16")
    moe_a2a_overlap: bool = Field(
        default=False, description="Hide the EP all-to-all behind another micro-batch's "
        "compute (1F1B A2A overlap)")
    pipeline_schedule: PipelineSchedule = Field(
        default="1f1b", description="1F1B (interleaved when interleave > 1) or DeepSeek's "
        "DualPipe")


LAYOUT_FIELDS = frozenset(TrainLayout.model_fields)


class TrainRequest(_Request):
    """One training job: what to train, on what, with which batch (and layout)."""

    model: str = Field(description="Catalog model name or a Hugging Face config.json path")
    num_gpus: GpuCount  # bounded: gputwin.limits
    gpu: str | None = None
    system: str | None = None
    global_batch_size: PositiveInt | None = Field(default=None,
                                                  description="Sequences per step")
    global_batch_tokens: PositiveCount | None = Field(
        default=None, description="Tokens per step (e.g. 16M)")
    seq_len: PositiveInt | None = Field(
        default=None, description="None = the model's training length (catalog)")
    layout: TrainLayout = TrainLayout()
    fabric: str | None = None
    storage: str | None = None
    tokens: PositiveCount | None = Field(default=None, description="Tokens to train on")
    checkpoint_interval_s: Seconds = Field(default=3600.0, gt=0)
    oversubscription: float = Field(default=1.0, ge=1.0)
    nodes_per_leaf: PositiveInt = 32
    num_leaves_spanned: PositiveInt | None = None
    model_overrides: dict[str, Any] | None = None

    @classmethod
    def from_flat(cls, fields: Mapping[str, Any],
                  where: Callable[[str], str] | None = None) -> TrainRequest:
        """Build from one flat mapping (layout keys beside the others, as on the CLI and in
        validation cases); raises :class:`InputError` naming a bad field (at
        ``where(field path)``, as :func:`validated`)."""
        data = {k: v for k, v in fields.items() if k not in LAYOUT_FIELDS}
        layout = {k: v for k, v in fields.items() if k in LAYOUT_FIELDS}
        if layout:
            data["layout"] = {**dict(data.get("layout") or {}), **layout}
        return validated(cls, data, where)

    def with_layout(self, layout: TrainLayout) -> TrainRequest:
        return self.model_copy(update={"layout": layout})


class TrainPlanRequest(_Request):
    """A layout search: the job without a layout, and what to rank by."""

    model: str
    num_gpus: list[GpuCount] = Field(min_length=1, description="GPU counts to try")
    gpu: str | None = None
    system: str | None = None
    global_batch_size: PositiveInt | None = None
    global_batch_tokens: PositiveCount | None = None
    seq_len: PositiveInt | None = None
    dtypes: list[PlanDType] = Field(
        default_factory=lambda: list[PlanDType](["bf16"]), min_length=1,
        description="Dtypes to try; 'any' = bf16 and fp8, those the part supports")
    objective: Literal["throughput", "time", "cost", "energy"] = "throughput"
    tokens: PositiveCount | None = Field(default=None, description="Tokens to train on")
    provider: str = "neocloud"
    pricing: str = "on-demand"
    max_tp: PositiveInt | None = None
    allow_offload: bool = False
    ep_dispatcher: EpDispatcher = Field(
        default="alltoall", description="The MoE dispatcher every expert-parallel layout runs")
    ep_dispatch_fp8: bool = Field(default=False,
                                  description="Every expert-parallel layout dispatches in FP8")
    try_dualpipe: bool = Field(
        default=False, description="Also time DeepSeek's DualPipe schedule on the layouts "
        "that can run it (even pp, interleave 1, an even number of micro-batches)")
    moe_a2a_overlap: bool = Field(
        default=False, description="Hide the EP all-to-all behind another micro-batch in "
        "the layouts that allow it (pp 1 or interleave > 1, 2+ micro-batches, no full "
        "recomputation)")
    top: PositiveInt = 5
    fabric: str | None = None
    storage: str | None = None
    oversubscription: float = Field(default=1.0, ge=1.0)
    nodes_per_leaf: PositiveInt = 32
    model_overrides: dict[str, Any] | None = None


class EnergyRequest(_Request):
    """Energy, carbon, water and cost of one training run: modelled (``tokens``, from the
    training model) or reported (``gpu_hours``). ``layout`` None = the planner's."""

    num_gpus: GpuCount  # bounded: gputwin.limits
    model: str | None = None
    gpu: str | None = None
    system: str | None = None
    tokens: PositiveCount | None = None
    gpu_hours: PositiveCount | None = None
    compute_frac: float | None = Field(default=None, ge=0, le=1)
    layout: TrainLayout | None = None
    dtype: TrainDType = Field(default="bf16", description="Dtype when the layout is planned")
    global_batch_size: PositiveInt | None = None
    global_batch_tokens: PositiveCount | None = None
    seq_len: PositiveInt | None = None
    region: str = "US-CAL-CISO"
    cooling: str | None = None
    provider: str | None = Field(default=None, description="None = the first class that "
                                 "lists the part: neocloud, else hyperscaler, else marketplace")
    pricing: str | None = Field(default=None, description="None = on-demand where listed, "
                                "else reserved, else spot")
    start: str = "2023-06-01T00:00"
    grid_data: str | None = None
    power_cap_w: float | None = Field(default=None, gt=0)
    pue: float | None = Field(default=None, ge=1.0)
    carbon_intensity_g_per_kwh: float | None = Field(default=None, ge=0)
    gpu_power_w: float | None = Field(default=None, gt=0)
    include_grid_water: bool = False
    model_overrides: dict[str, Any] | None = None

    @classmethod
    def from_flat(cls, fields: Mapping[str, Any],
                  where: Callable[[str], str] | None = None) -> EnergyRequest:
        """Layout keys beside the others (CLI, validation cases); a ``dtype`` alone keeps the
        layout planned. Errors as :func:`validated` (at ``where(field path)``)."""
        data = {k: v for k, v in fields.items() if k not in LAYOUT_FIELDS}
        layout = {k: v for k, v in fields.items() if k in LAYOUT_FIELDS}
        if "dtype" in layout:
            data["dtype"] = layout["dtype"]
        if set(layout) - {"dtype"}:
            data["layout"] = layout
        return validated(cls, data, where)


class CollectiveRequest(_Request):
    """One collective among ``num_gpus`` ranks ``0, stride, 2·stride, ...`` (nccl-tests
    conventions for ``size_bytes``)."""

    op: str = Field(description="all_reduce, all_gather, reduce_scatter, all_to_all, ...")
    size_bytes: Bytes = Field(gt=0)
    num_gpus: GpuCount  # bounded: gputwin.limits
    gpu: str | None = None
    system: str | None = None
    fabric: str | None = None
    algorithm: str = "auto"
    topology: Literal["single_node", "rail_optimized", "fat_tree"] = "rail_optimized"
    nodes_per_leaf: PositiveInt = 32
    oversubscription: float = Field(default=1.0, ge=1.0)
    rank_stride: PositiveInt = 1


class ServePlanRequest(_Request):
    """A serving-configuration search: model, traffic (rate + lengths, concurrent users +
    lengths, or a trace), SLOs at one percentile, what to search and how many deployments
    to confirm."""

    model: str
    rate: float | None = Field(default=None, gt=0, description="Requests per second")
    concurrency: PositiveInt | None = Field(
        default=None, description="Closed loop instead of a rate: this many users, each "
        "sending its next request when the previous one completes")
    think_time: Seconds = Field(default=0.0, ge=0, description="Closed loop: a user's pause "
                                "between a response and the next request")
    input_tokens: PositiveInt | None = None
    output_tokens: PositiveInt | None = None
    trace: str | None = Field(default=None, description="Trace file instead of --rate")
    trace_format: Literal["azure", "mooncake", "burstgpt"] = "azure"
    trace_model: str | None = Field(default=None, description="BurstGPT trace: keep this "
                                    "Model's rows")
    trace_log_type: str | None = Field(default=None, description="BurstGPT trace: keep this "
                                       "Log Type's rows")
    max_requests: PositiveInt | None = None
    speedup: float = Field(default=1.0, gt=0)
    ttft_slo: Seconds | None = Field(default=None, gt=0)

    @field_validator("trace_model", "trace_log_type")
    @classmethod
    def _burstgpt_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check_burstgpt_filter(
            value, info.data.get("trace_format") if info.data.get("trace") else None)
    tpot_slo: Seconds | None = Field(default=None, gt=0)
    e2e_slo: Seconds | None = Field(default=None, gt=0)
    percentile: Literal["p50", "p90", "p99"] = "p99"
    gpus: list[str] | None = Field(default=None, description="None = every priced part")
    weights: list[str] | None = Field(default=None, description="None = bf16, fp8 (+fp4)")
    kv_caches: list[Literal["bf16", "fp8"]] = Field(
        default_factory=lambda: list[Literal["bf16", "fp8"]](["bf16", "fp8"]), min_length=1)
    max_num_seqs: list[PositiveInt] = Field(default_factory=lambda: [128, 256, 512],
                                            min_length=1)
    engines: list[str] | None = Field(default=None,
                                      description="Engine profiles; None = every registered")
    max_tp: PositiveInt | None = None
    disaggregate: bool = False
    max_replicas: ReplicaCount = 64  # bounded: gputwin.limits
    replica_slack: int = Field(default=1, ge=0)
    provider: str = "neocloud"
    pricing: str = "on-demand"
    top: PositiveInt = 10
    finalists: PositiveInt = Field(default=16, description="Simulations per round")
    max_simulations: PositiveInt = 256
    num_requests: RequestCount | None = Field(default=None,
                                              description="None = ~60 s of arrivals")
    seed: int = Field(default=0, ge=0)
    prune: bool = True
    model_overrides: dict[str, Any] | None = None


class ServeRequest(_Request):
    """One serving configuration estimated analytically (``estimate serve``): a replica's
    split, precision, batch and the request lengths."""

    model: str
    input_tokens: PositiveInt
    output_tokens: PositiveInt
    gpu: str | None = None
    system: str | None = None
    tp: PositiveInt = 1
    pp: PositiveInt = 1
    ep: PositiveInt = 1
    dp_attention: PositiveInt = 1
    redundant_experts: int = Field(default=0, ge=0)
    ep_imbalance: float | None = Field(default=None, ge=1.0)
    batch_size: PositiveInt = 1
    weights: str = "bf16"
    kv_cache: str = "bf16"
    spec_tokens: int = Field(default=0, ge=0)
    acceptance: float = Field(default=0.7, ge=0.0, le=1.0)
    draft_model: str | None = None
    spec_kind: str | None = None
    calibration: str | None = Field(default=None, description="A calibration YAML file")
    num_replicas: PositiveInt = 1
    max_num_seqs: PositiveInt | None = Field(
        default=None, description="Engine batch limit; None: the engine's default for the "
        "part (vLLM: 1,024 on CUDA/ROCm GPUs of 70 GiB or more but A100s, else 256)")
    max_num_batched_tokens: PositiveInt | None = Field(
        default=None, description="Token budget of one step; None: the engine's default "
        "for the part (vLLM: 8,192 on those large GPUs, else 2,048)")
    gpu_memory_utilization: float | None = Field(
        default=None, gt=0.0, le=1.0, description="Share of the GPU memory the engine "
        "sizes its KV pool in; None: the engine's (vLLM 0.9, SGLang 0.88)")
    model_overrides: dict[str, Any] | None = None
    draft_model_overrides: dict[str, Any] | None = None
    engine: str = "vllm"
    context_buckets: list[PositiveInt] | None = Field(
        default=None, description="Compiled context-encoding lengths (AWS Neuron): the "
        "prompt is prefilled padded to the smallest that holds it")
    kv_cache_length: PositiveInt | None = Field(
        default=None, description="Static KV cache per batch slot, in tokens (JetStream's "
        "dense cache): decode attention reads every slot's whole cache")


R = TypeVar("R", bound=BaseModel)


def validated(kind: type[R], data: Mapping[str, Any],
              where: Callable[[str], str] | None = None) -> R:
    """``kind.model_validate(data)`` with the first error as an :class:`InputError` at
    ``where(field path)`` (default: the field path itself, e.g. ``layout.tp``)."""
    try:
        return kind.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or kind.__name__
        raise InputError(first["msg"].removeprefix("Value error, "),
                         where=where(loc) if where else loc) from None
