"""Serving scenarios: LLM services on GPU replicas and the requests they receive.

A serving scenario file has a top-level ``serving:`` section (see docs/serving-simulation.md)
and, optionally, the ``site:`` section of cluster scenarios (region, cooling, start date,
price book provider and pricing) for energy, carbon, water and cost::

    name: serve-default
    seed: 0
    site: {region: US-CAL-CISO, provider: neocloud, pricing: on-demand}
    serving:
      services:
        - name: chat
          model: llama3.1-8b
          gpu: h100-sxm-80gb
          replicas: 2
          slo: {ttft: 2s, tpot: 100ms}
      workload:
        - kind: synthetic
          num_requests: 2000
          arrival: {process: poisson, rate: 10}
          prompt: {dist: lognormal, mean: 1000, median: 600}
          output: {dist: lognormal, mean: 250, median: 150}

Human units are parsed here (``"2s"``, ``"100ms"``, ``"25GB/s"``); names are checked
against the catalog by :func:`load_serving_scenario` with ``file:line`` locations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.schema import Accelerator, System
from gputwin.errors import InputError, UnknownNameError
from gputwin.input_model import InputModel
from gputwin.limits import (
    MAX_PROMPT_BLOCKS,
    MAX_TOKENS,
    RagChunkCount,
    ReplicaCount,
    RequestCount,
    TokenCount,
    TokenCountOrZero,
)
from gputwin.perf.engines import (
    CapacityPolicy,
    EngineProfile,
    default_engine,
    engine_names,
    engine_profile,
)
from gputwin.perf.speculation import DEFAULT_DRAFT_KIND, DraftKind, draft_model_problem
from gputwin.perf.split import Split, check_split
from gputwin.quantities import BytesPerS, Seconds
from gputwin.requests import check_burstgpt_filter
from gputwin.scenario.generation import GenerationSection
from gputwin.scenario.overrides import (
    apply_overrides,
    error_key_path,
    key_paths,
    override_at,
    parse_override,
)
from gputwin.scenario.paths import CATALOG_FIELD_HELP, find_data_file, scenario_catalog
from gputwin.scenario.rag import RagPipelineOptions, check_rag_pipeline
from gputwin.scenario.serving_failures import ServingFailuresConfig
from gputwin.scenario.site import SiteConfig, cluster_hardware, rack_layout
from gputwin.scenario.sites import (
    PlacementOptions,
    RolloutOptions,
    RoutingOptions,
    SiteOptions,
    UserOptions,
    VariantOptions,
    no_sites_without_users,
)
from gputwin.serving.config import check_step_budget
from gputwin.serving.router import parse_router_spec, router_names, router_spec
from gputwin.topology.hardware import default_system_for
from gputwin.workload.llm_synthetic import LengthDist
from gputwin.workload.llm_traces import LlmTraceFormat
from gputwin.yaml_io import (
    KeyPath,
    format_key_path,
    load_yaml_with_lines,
    top_level_mapping,
    validation_error_to_input_error,
)

PosInt = Annotated[int, Field(gt=0)]



def _trtllm_family(p: EngineProfile) -> bool:
    """TensorRT-LLM's profile and its releases."""
    return (p.base or p.name) == "trtllm"


def _vllm_multi_step_engine(p: EngineProfile) -> bool:
    """vLLM's profiles (V0 multi-step), not Intel's static runner built on one."""
    return p.name in ("vllm", "vllm-v0", "vllm-0.6")


def _engine_has_option(info: ValidationInfo, option: str,
                       has: Callable[[EngineProfile], bool], fix: str) -> None:
    """Refuse an engine option the section's profile (``info.data['name']``) lacks."""
    name = info.data.get("name")
    if name is not None and not has(p := engine_profile(name)):
        raise ValueError(f"{option}; {p.title} has none: {fix}")


class _M(InputModel):
    """The rules of every user input (:class:`gputwin.input_model.InputModel`)."""


class EngineOptions(_M):
    """Engine limits; ``None`` takes the engine profile's default (perf/engines.yaml).

    ``name`` is a registered engine (``vllm`` by default, ``sglang``, ``trtllm``); a
    service may also write ``engine: trtllm`` for ``engine: {name: trtllm}``."""

    name: str = Field(default_factory=default_engine,
                      description="Engine profile: " + ", ".join(engine_names()))
    block_size: PosInt | None = None
    max_num_seqs: PosInt | None = None
    max_num_batched_tokens: PosInt | None = None
    max_model_len: PosInt | None = Field(default=None, description="None = the model's")
    enable_chunked_prefill: bool | None = None
    enable_prefix_caching: bool = True
    preemption_mode: Literal["recompute", "swap"] = "recompute"
    scheduling_policy: Literal["fcfs", "priority"] = "fcfs"
    gpu_memory_utilization: float | None = Field(
        default=None, gt=0, le=1, description="KV memory fraction (vLLM/SGLang: of the "
        "GPU memory; TensorRT-LLM: of the memory left after the weights)")
    swap_bandwidth: BytesPerS = Field(default=25e9, gt=0, description="Host↔GPU per GPU")
    skip_decode_steps: bool = True
    num_scheduler_steps: PosInt = Field(
        default=1, description="vLLM V0 multi-step scheduling (--num-scheduler-steps): "
        "the scheduler runs once per this many decode steps")
    adp_enable_balance: bool = Field(
        default=False, description="TensorRT-LLM attention_dp_config.enable_balance: hold "
        "context requests until every attention-DP rank has one (or the timeout)")
    adp_timeout_iters: int = Field(
        default=50, ge=0, description="attention_dp_config.timeout_iters (iterations)")
    adp_batching_wait_iters: int = Field(
        default=10, ge=0, description="attention_dp_config.batching_wait_iters (iterations)")
    batch_wait_timeout_iters: int = Field(
        default=0, ge=0, description="TensorRT-LLM batch_wait_timeout_iters (no attention "
        "DP): hold context requests up to this many iterations (0 = off)")
    batch_wait_max_tokens_ratio: float = Field(
        default=0.0, ge=0, le=1, description="TensorRT-LLM batch_wait_max_tokens_ratio: "
        "release held context requests once a step's tokens reach this share of the budget")
    prefill_min_free_kv_frac: float = Field(
        default=0.0, ge=0, lt=1, description="Admit a new prefill only while at least this "
        "share of the KV blocks is free (AMD's MLPerf vLLM VLLM_SCHED_PREFILL_KVC_FREEPCT "
        "/ 100; 0 = off)")

    capacity_policy: CapacityPolicy | None = Field(
        default=None, description="How the scheduler admits against KV capacity (None = "
        "the profile's): greedy (vLLM; TensorRT-LLM MAX_UTILIZATION: admit while blocks "
        "are free, preempt when they run out), no_evict (TensorRT-LLM "
        "GUARANTEED_NO_EVICT: admit only when the whole sequence's KV is reserved) or "
        "new_token_ratio (SGLang's estimate of the running requests' remaining output)")

    cuda_graph_padding: bool | None = Field(
        default=None, description="Pad a pure-decode batch to the next captured CUDA-graph "
        "size (None = the profile's: TensorRT-LLM and SGLang pad, vLLM V1 as calibrated does "
        "not); false for a runtime without graphs (NVIDIA's MLPerf harness: use_graphs off)")

    enable_mixed_chunk: bool | None = Field(
        default=None, description="SGLang --enable-mixed-chunk: the running requests "
        "decode inside prefill batches (None = the profile's: off, prefill batches run "
        "apart from decode batches)")

    @field_validator("enable_mixed_chunk")
    @classmethod
    def _sglang_mixed_chunk(cls, v: bool | None, info: ValidationInfo) -> bool | None:
        """Only engines whose profile runs prefill batches apart (SGLang's) take it."""
        if v is not None:
            _engine_has_option(info, "enable_mixed_chunk is an SGLang option",
                               lambda p: not p.mixed_chunk,
                               "leave it unset or pick engine sglang")
        return v

    @field_validator("adp_enable_balance", "batch_wait_timeout_iters")
    @classmethod
    def _trtllm_context_hold(cls, v: Any, info: ValidationInfo) -> Any:
        """Context holds are TensorRT-LLM's options: the trtllm profile and its releases."""
        if v:
            _engine_has_option(info, f"{info.field_name} is a TensorRT-LLM option",
                               _trtllm_family, "leave it off or pick engine trtllm")
        return v

    @field_validator("name")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in engine_names():
            raise ValueError(f"unknown engine {v!r}; expected one of {', '.join(engine_names())}")
        return v

    @field_validator("num_scheduler_steps")
    @classmethod
    def _vllm_multi_step(cls, v: int, info: ValidationInfo) -> int:
        """Multi-step scheduling is vLLM's (V0) option: the vllm profile and its releases,
        not Intel's static runner built on a vLLM profile."""
        if v > 1:
            _engine_has_option(info, "multi-step scheduling is a vLLM option",
                               _vllm_multi_step_engine, "leave it at 1 or pick engine vllm, "
                               "vllm-v0 or vllm-0.6")
        return v

    def resolved(self, dp_attention: int = 1) -> EngineSettings:
        """Concrete limits of a replica: the given values, the profile's defaults for the
        rest; engines whose limits count one attention DP rank (TensorRT-LLM) hold them
        ``dp_attention`` times."""
        p = engine_profile(self.name)
        if self.cuda_graph_padding is not None:
            p = replace(p, pad_decode_to_graph=self.cuda_graph_padding)
        times = p.limits_multiplier(dp_attention)
        return EngineSettings(
            profile=p,
            block_size=self.block_size or p.block_size,
            max_num_seqs=(self.max_num_seqs or p.max_num_seqs) * times,
            max_num_batched_tokens=(self.max_num_batched_tokens
                                    or p.max_num_batched_tokens) * times,
            enable_chunked_prefill=(p.enable_chunked_prefill if self.enable_chunked_prefill
                                    is None else self.enable_chunked_prefill),
            gpu_memory_utilization=self.gpu_memory_utilization or p.memory_frac,
            budget_given=self.max_num_batched_tokens is not None,
            mixed_chunk=(p.mixed_chunk if self.enable_mixed_chunk is None
                         else self.enable_mixed_chunk),
            capacity_policy=self.capacity_policy or p.capacity_policy)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """An engine's limits after the profile filled the unset ones."""

    profile: EngineProfile
    block_size: int
    max_num_seqs: int
    max_num_batched_tokens: int
    enable_chunked_prefill: bool
    gpu_memory_utilization: float
    budget_given: bool  # the token budget was set explicitly (not the profile's)
    mixed_chunk: bool = True  # decoders ride in prefill steps (off: SGLang's default)
    capacity_policy: str = "greedy"  # perf.engines.CAPACITY_POLICIES


class SpeculativeOptions(_M):
    num_tokens: PosInt
    acceptance: float = Field(default=0.7, ge=0, le=1)
    kind: DraftKind = DEFAULT_DRAFT_KIND
    draft_model: str | None = Field(default=None, validate_default=True)

    @field_validator("draft_model")
    @classmethod
    def _draft_model_fits_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        problem = None if kind is None else draft_model_problem(kind, value, "draft_model")
        if problem:
            raise ValueError(problem)
        return value


class AutoscalerOptions(_M):
    metric: Literal["queue", "utilization", "concurrency"] = Field(
        default="queue", description="queue: waiting requests per replica; utilization: "
        "busy fraction; concurrency: requests in the replica (running + waiting)")
    target: float = Field(default=4.0, gt=0)
    interval: Seconds = Field(default=15.0, gt=0)
    min_replicas: ReplicaCount = 1  # bounded: gputwin.limits
    max_replicas: ReplicaCount = 8
    storage: str | None = Field(default=None, description="Tier weights load from")
    startup_overhead: Seconds = Field(default=0.0, description="Container start etc.")
    scale_down_stabilization: Seconds = Field(
        default=0.0, ge=0, description="Scale down only to the highest count asked for "
        "within this window (Kubernetes HPA: 300s); 0 = at once")

    @field_validator("max_replicas")
    @classmethod
    def _max_not_below_min(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("min_replicas")
        if low is not None and v < low:
            raise ValueError(f"max_replicas must be >= min_replicas ({low})")
        return v


class PoolLayout(_M):
    """A pool's own split of the model; unset fields keep the service's."""

    tp: PosInt | None = None
    pp: PosInt | None = None
    ep: PosInt | None = None
    dp_attention: PosInt | None = None

    def applied_to(self, service: ServiceOptions) -> ServiceOptions:
        """``service`` with this layout's fields in place of its own."""
        return service.model_copy(update={k: v for k, v in self.model_dump().items()
                                          if v is not None})


class DisaggregationOptions(_M):
    prefill_replicas: ReplicaCount  # bounded: gputwin.limits
    decode_replicas: ReplicaCount
    transfer_bandwidth: BytesPerS | None = Field(default=None, description="None = NICs")
    prefill_autoscaler: AutoscalerOptions | None = Field(
        default=None, description="The prefill pool's own policy (default: the service's "
        "autoscaler, evaluated for each pool separately)")
    prefill_layout: PoolLayout | None = Field(
        default=None, description="The prefill pool's tp/pp/ep/dp_attention when they differ "
        "from the service's (which the decode pool uses), e.g. prefill TP8 and decode wide "
        "EP")


def _router_choice(value: Any) -> str:
    """``name``, ``"name:key=value"`` or ``{name: ..., key: value}`` (typed router args,
    checked against the router registry) → the one-string form the fleet takes."""
    try:
        if isinstance(value, dict):
            rest = {k: v for k, v in value.items() if k != "name"}
            return router_spec(str(value.get("name", "")), rest)
        if isinstance(value, str):
            return router_spec(*parse_router_spec(value))
    except InputError as exc:
        raise ValueError(str(exc)) from None
    raise ValueError(f"expected a router name or {{name: ..., <args>}}, got {value!r}")


RouterChoice = Annotated[str, BeforeValidator(_router_choice), WithJsonSchema(
    {"anyOf": [{"enum": list(router_names())},
               {"type": "object", "properties": {"name": {"enum": list(router_names())}},
                "required": ["name"]}]})]


class SloOptions(_M):
    ttft: Annotated[Seconds, Field(gt=0)] | None = None
    tpot: Annotated[Seconds, Field(gt=0)] | None = None


def _engine_shorthand_schema(schema: dict[str, Any]) -> None:
    """The JSON schema of ``engine`` also takes the shorthand ``engine: <name>``."""
    props = schema.get("properties", {})
    if "engine" in props:
        props["engine"] = {"anyOf": [props["engine"], {"enum": list(engine_names())}],
                           "description": "An engine name, or {name: ..., <limits>}"}


class ServiceOptions(_M):
    model_config = ConfigDict(frozen=True, extra="forbid",
                              json_schema_extra=_engine_shorthand_schema)

    name: str = "default"
    model: str
    gpu: str | None = None
    system: str | None = None
    tp: PosInt = 1
    pp: PosInt = 1
    ep: PosInt = 1
    dp_attention: PosInt = Field(default=1, description="Attention data-parallel groups; "
                                 "wide EP: ep = tp x dp_attention")
    redundant_experts: int = Field(default=0, ge=0, description="EPLB expert replicas")
    ep_imbalance: float | None = Field(default=None, ge=1, description="Busiest GPU's routed "
                                       "tokens over the mean; None = expected")
    weights_dtype: Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4", "nvfp4",
                           "mxfp4"] = Field(default="bf16", description="fp4 = nvfp4; the "
                                            "FP4 formats need FP4 tensor cores (Blackwell)")
    kv_cache_dtype: Literal["bf16", "fp8"] | None = Field(
        default=None, description="None = the engine's default (vLLM/SGLang: the model "
        "dtype; TensorRT-LLM: fp8 with fp8/fp4 checkpoints that run at their own "
        "tensor-core rate, bf16 when they run weight-only)")
    replicas: ReplicaCount = 1
    router: RouterChoice = "least_outstanding"
    engine: EngineOptions = EngineOptions()
    speculative: SpeculativeOptions | None = None
    disaggregation: DisaggregationOptions | None = None
    autoscaler: AutoscalerOptions | None = None
    slo: SloOptions = SloOptions()
    endpoint: str | None = Field(default=None, description="With sites: the endpoint the "
                                 "workload names (default: the service's name); services of "
                                 "one endpoint are alternatives (a small edge model, a large "
                                 "core one)")
    sites: dict[str, ReplicaCount] | None = Field(default=None, description="With sites: "
                                                  "replicas per site (replaces replicas)")

    @property
    def endpoint_name(self) -> str:
        return self.endpoint or self.name

    @field_validator("disaggregation")
    @classmethod
    def _pools_replace_replicas(cls, v: DisaggregationOptions | None,
                                info: ValidationInfo) -> DisaggregationOptions | None:
        """The pools' counts replace ``replicas``: another value was dropped without a word."""
        replicas = info.data.get("replicas", 1)
        if v is not None and replicas != 1:
            raise ValueError(f"replicas ({replicas}) counts colocated replicas; a disaggregated "
                             "service has prefill_replicas and decode_replicas here instead "
                             "(leave replicas out)")
        return v

    @field_validator("speculative")
    @classmethod
    def _not_multi_step(cls, v: SpeculativeOptions | None,
                        info: ValidationInfo) -> SpeculativeOptions | None:
        """vLLM V0 refuses speculative decoding with num_scheduler_steps > 1 (engine
        arguments: 'Speculative decoding is not supported with multi-step')."""
        engine = info.data.get("engine")
        if v is not None and engine is not None and engine.num_scheduler_steps > 1:
            raise ValueError("speculative decoding does not run with multi-step scheduling "
                             f"(num_scheduler_steps {engine.num_scheduler_steps}): vLLM V0 "
                             "refuses the pair")
        return v

    @model_validator(mode="before")
    @classmethod
    def _engine_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("engine"), str):
            return {**data, "engine": {"name": data["engine"]}}
        return data

    def kv_dtype(self, weight_only: bool = False) -> str:
        """The KV-cache dtype: the one given, else the engine's default for these weights
        (``weight_only``: they are dequantised to BF16 on this part, see
        :meth:`EngineProfile.kv_dtype`)."""
        if self.kv_cache_dtype is not None:
            return self.kv_cache_dtype
        return engine_profile(self.engine.name).kv_dtype(self.weights_dtype, weight_only)

    @model_validator(mode="after")
    def _hardware(self) -> ServiceOptions:
        if self.gpu is None and self.system is None:
            raise ValueError("name a `gpu` (e.g. h100-sxm-80gb) or a `system`")
        return self


class LengthOptions(_M):
    dist: Literal["fixed", "uniform", "lognormal"] = "fixed"
    value: TokenCount = 128  # bounded: gputwin.limits
    low: TokenCount = 1
    high: TokenCount = 1_000_000
    mean: float = Field(default=0.0)
    median: float = Field(default=0.0)

    @model_validator(mode="after")
    def _consistent(self) -> LengthOptions:
        """The rules of :class:`~gputwin.workload.llm_synthetic.LengthDist` (bounds in
        order, a lognormal's median within them and not above its mean)."""
        try:
            self.to_dist()
        except InputError as exc:
            raise ValueError(exc.detail) from None
        return self

    def to_dist(self) -> LengthDist:
        """The distribution the synthetic source draws lengths from."""
        return LengthDist(kind=self.dist, value=self.value, low=self.low, high=self.high,
                          mean=self.mean, median=self.median)


def default_lengths(model: str) -> tuple[str, str]:
    """Default synthetic prompt and output lengths for ``model`` (``simulate serve``).

    Lognormal prompts of mean 1000 / median 600 tokens and outputs of 250 / 150 (chat-like,
    as the Azure LLM inference trace), each capped at half the model's context (at most
    16,000 and 4,000 tokens), so default runs neither drop nor truncate requests on
    short-context models; where the cap falls below the median (a context under 1,200
    tokens) mean and median shrink in proportion, as a median must lie within the cap.
    An unknown model keeps the uncapped values (its error comes from the service check).
    """
    from gputwin.catalog.loader import default_catalog

    try:
        context = default_catalog().model(model).max_seq_len
    except InputError:
        context = 32_000
    half = max(1, context // 2)

    def spec(mean: float, median: float, cap: int) -> str:
        scale = min(1.0, cap / median)
        return f"lognormal:{mean * scale:g}/{median * scale:g}:{cap}"

    return spec(1000, 600, min(16_000, half)), spec(250, 150, min(4_000, half))


class ArrivalOptions(_M):
    process: Literal["poisson", "gamma", "bursty", "fixed", "diurnal"] = "poisson"
    rate: float = Field(gt=0, description="Mean requests per second")
    cv: float = Field(default=1.0, gt=0)
    burst_factor: float = Field(default=4.0, ge=1)
    on: Seconds = Field(default=10.0, gt=0)
    off: Seconds = 30.0
    start: Seconds = 0.0
    amplitude: float = Field(default=0.5, ge=0, lt=1, description="diurnal: swing of the "
                             "rate around its mean (0.5: peak 1.5x, trough 0.5x)")
    period: Seconds = Field(default=86400.0, gt=0, description="diurnal: length of a cycle")
    peak: Seconds = Field(default=50400.0, ge=0, description="diurnal: time of the peak "
                          "in the cycle (default 14:00)")


class LengthTraceOptions(_M):
    """Prompt and output lengths taken from a trace file (its arrival times unused)."""

    format: LlmTraceFormat = "azure"
    path: str
    sample: Literal["sequential", "random"] = Field(
        default="sequential", description="sequential: the trace's requests in arrival "
        "order, from the start again when it runs out; random: drawn with replacement "
        "(seeded stream llm/<source>/lengths)")


class SyntheticSource(_M):
    kind: Literal["synthetic"]
    service: str = "default"
    num_requests: RequestCount
    arrival: ArrivalOptions | None = Field(
        default=None, description="Open loop: when requests arrive (give this or "
        "`concurrency`)")
    concurrency: PosInt | None = Field(
        default=None, description="Closed loop: this many clients, each sending its next "
        "request when the previous one completes (a benchmark's maximum concurrency; give "
        "this or `arrival`)")
    think_time: Seconds = Field(default=0.0, description="Closed loop: a client's pause "
                                "between a completion and its next request")
    prompt: LengthOptions = LengthOptions(value=512)
    output: LengthOptions = LengthOptions(value=128)
    lengths: LengthTraceOptions | None = Field(
        default=None, description="Take prompt/output lengths from a trace instead of "
        "the prompt/output distributions")
    priority: int = 0
    repeat: PosInt = Field(
        default=1, description="Send each distinct prompt this many times in random order "
        "(shared KV blocks for the prefix cache; vLLM benchmark_prefix_caching's "
        "--repeat-count)")
    warmup_requests: int = Field(
        default=0, ge=0, description="The first this many requests (in send order) load "
        "the server but are left out of the summary metrics: a benchmark client's warm-up "
        "(AIPerf/genai-perf --warmup-request-count). A closed loop's profiled requests "
        "follow on without a pause, so its start-up burst falls in the warm-up "
        "(docs/serving-simulation.md, \"Closed-loop clients\")")

    @model_validator(mode="after")
    def _one_length_source(self) -> SyntheticSource:
        if self.lengths is not None and {"prompt", "output"} & self.model_fields_set:
            raise ValueError("give either lengths (a length trace) or prompt/output "
                             "distributions, not both")
        if (self.arrival is None) == (self.concurrency is None):
            raise ValueError("give arrival (open loop) or concurrency (closed loop), "
                             "exactly one")
        if self.think_time and self.concurrency is None:
            raise ValueError("think_time applies to closed-loop clients (concurrency)")
        return self

    @field_validator("warmup_requests")
    @classmethod
    def _something_measured(cls, value: int, info: ValidationInfo) -> int:
        """Named at its own key (and flag), not at the source as a whole."""
        total = info.data.get("num_requests")
        if total is not None and value >= total:
            raise ValueError(f"must be below num_requests ({total}): nothing would be "
                             "measured")
        return value


class TraceSource(_M):
    kind: Literal["trace"]
    service: str = "default"
    format: LlmTraceFormat
    path: str
    max_requests: PosInt | None = None
    speedup: float = Field(default=1.0, gt=0)
    use_prefix_hashes: bool = True
    model_filter: str | None = Field(default=None, description="BurstGPT Model column")
    log_type: str | None = Field(default=None, description="BurstGPT Log Type column")

    @field_validator("model_filter", "log_type")
    @classmethod
    def _burstgpt_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check_burstgpt_filter(value, info.data.get("format"))


class RagSource(_M):
    kind: Literal["rag"]
    service: str = "default"
    num_requests: RequestCount
    arrival: ArrivalOptions
    num_chunks: RagChunkCount = 1000  # bounded: gputwin.limits
    chunks_per_request: PosInt = 4
    chunk_tokens: TokenCount = 512
    system_tokens: TokenCountOrZero = 512
    zipf_s: float = Field(default=1.1, ge=0)
    query: LengthOptions = LengthOptions(dist="uniform", low=16, high=128)
    output: LengthOptions = LengthOptions(dist="lognormal", low=16, high=2048, mean=250,
                                          median=180)
    retrieval: Seconds = Field(default=0.03, description="Embedding + vector search "
                               "(a fixed delay; ignored when `pipeline` is given)")
    pipeline: RagPipelineOptions | None = Field(
        default=None, description="Embedding, vector index, BM25 and reranker services "
        "simulated under load in front of the LLM (docs/rag.md)")

    @model_validator(mode="after")
    def _prompts_fit(self) -> RagSource:
        """The generator's sizes, before anything is drawn: top-k from the corpus, a prompt
        an int64 request table holds, and every request's block ids in memory."""
        k = self.chunks_per_request
        if k > self.num_chunks:
            raise ValueError(f"chunks_per_request ({k}) exceeds num_chunks "
                             f"({self.num_chunks}): a prompt's chunks are distinct")
        query = self.query.value if self.query.dist == "fixed" else self.query.high
        prompt = self.system_tokens + k * self.chunk_tokens + query
        if prompt > MAX_TOKENS.value:
            raise ValueError("the longest prompt (system_tokens + chunks_per_request x "
                             f"chunk_tokens + query): {MAX_TOKENS.message(prompt)}")
        per_prompt = -(-self.system_tokens // self.chunk_tokens) + k
        blocks = self.num_requests * per_prompt
        if blocks > MAX_PROMPT_BLOCKS.value:
            raise ValueError(f"num_requests x blocks per prompt ({per_prompt:,}: system_tokens "
                             "in chunk_tokens blocks + chunks_per_request): "
                             + MAX_PROMPT_BLOCKS.message(blocks))
        return self


Source = Annotated[SyntheticSource | TraceSource | RagSource, Field(discriminator="kind")]


class ServingSection(_M):
    services: list[ServiceOptions] = Field(default_factory=list)
    workload: list[Source] = Field(default_factory=list)
    generation: GenerationSection | None = Field(default=None, description="Image/video "
                                                 "generation services (docs/economics.md)")
    max_total_gpus: PosInt | None = None
    sample_interval: Seconds | None = None
    failures: ServingFailuresConfig | None = Field(
        default=None, description="Replica faults: requests retried on other replicas, "
        "replacements after a restart (docs/reliability.md)")

    @model_validator(mode="before")
    @classmethod
    def _no_flat_price(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gpu_cost_per_hour" in data:
            raise ValueError("gpu_cost_per_hour is gone: serving cost comes from the price "
                             "book; choose it with site.provider and site.pricing (gputwin "
                             "estimate energy --help lists them)")
        return data

    @model_validator(mode="after")
    def _names(self) -> ServingSection:
        if not self.services and self.generation is None:
            raise ValueError("no services: give services (LLM) or generation (diffusion)")
        if self.services and not self.workload:
            raise ValueError("services need a workload")
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique, got {names}")
        known = set(names) | {s.endpoint_name for s in self.services}
        unknown = sorted({w.service for w in self.workload} - known)
        if unknown:
            raise ValueError(f"workload names unknown service(s) {unknown}; services: {names}")
        endpoints = {s.endpoint for s in self.services if s.endpoint} & set(names)
        if endpoints:
            raise ValueError(f"endpoint name(s) {sorted(endpoints)} are also service names")
        return self


class ServingScenario(_M):
    """The root of a serving scenario file."""

    name: str = "serving"
    description: str = ""
    seed: int = Field(default=0, ge=0)
    horizon: Seconds | None = Field(default=None, gt=0, description="None = until done")
    site: SiteConfig = Field(default_factory=SiteConfig, description="Region, cooling, "
                             "start date and price book provider/pricing of the energy, "
                             "carbon, water and cost accounting (as in cluster scenarios)")
    serving: ServingSection
    catalog: str | list[str] = Field(default_factory=list, description=CATALOG_FIELD_HELP)
    sites: list[SiteOptions] = Field(default_factory=list, description="Core regions and "
                                     "edge sites (docs/sites.md); empty = one site")
    users: list[UserOptions] = Field(default_factory=list, description="User populations "
                                     "(with sites)")
    routing: RoutingOptions = RoutingOptions()
    placement: PlacementOptions = PlacementOptions()
    rollout: RolloutOptions | None = Field(default=None, description="A model version "
                                           "rolled out to edge sites (with sites)")
    variants: list[VariantOptions] = Field(default_factory=list, description="Variants "
                                           "gputwin compare runs (simulate runs the file "
                                           "as written)")

    @model_validator(mode="before")
    @classmethod
    def _sites_and_users(cls, data: Any) -> Any:
        return no_sites_without_users(data)


def is_serving_file(path: Path) -> bool:
    """True when the YAML at ``path`` has a top-level ``serving:`` section and no
    ``cluster:`` (with one it is a shared-fleet cluster scenario)."""
    try:
        data, _ = load_yaml_with_lines(path)
    except InputError:
        return False
    return isinstance(data, dict) and "serving" in data and "cluster" not in data


def load_serving_scenario(path: str | Path, overrides: Sequence[str] = (), *,
                          catalog: Catalog | None = None) -> ServingScenario:
    """Read, override, validate and catalog-check a serving scenario (raises InputError).

    Relative trace paths are resolved beside the file, then in the data folder."""
    file = Path(path)
    raw, lines = load_yaml_with_lines(file)
    data = top_level_mapping(raw, str(file), "a mapping of scenario sections (serving:, ...)")
    parsed = [parse_override(t) for t in overrides]
    data = apply_overrides(data, parsed)
    try:
        sc = ServingScenario.model_validate(data)
    except ValidationError as exc:
        ov = override_at(error_key_path(exc, data), parsed, lines)
        if ov is not None:
            raise validation_error_to_input_error(exc, f"--set {ov.text}",
                                                  keys=key_paths(data)) from None
        raise validation_error_to_input_error(exc, str(file), lines) from None

    def where(key: KeyPath) -> str:
        probe = key
        while probe and probe not in lines:
            probe = probe[:-1]
        line = f"{file}:{lines[probe]}" if probe in lines else str(file)
        return f"{line}: {format_key_path(key)}"

    if sc.catalog and catalog is None:
        catalog = scenario_catalog(sc.catalog, file.parent, where(("catalog",)))
    check_serving(sc, catalog or default_catalog(), where)
    if sc.sites:
        from gputwin.scenario.sites_check import check_sites

        check_sites(sc, catalog or default_catalog(), where)
    return resolve_trace_paths(sc, file.parent, where)


def _check_engine_budget(s: ServiceOptions, base: KeyPath, where: Any) -> None:
    """The step's token budget (:func:`~gputwin.serving.config.check_step_budget`), named
    at the engine option given (the budget, else the batch size, else the speculative
    tokens). A profile's budget without chunked prefill is raised to the workload's
    longest prompt at run time (``run.simulate_serve.engine_config``), so it is checked
    then."""
    e = s.engine.resolved(s.dp_attention)
    if not e.budget_given and not e.enable_chunked_prefill:
        return
    k = s.speculative.num_tokens if s.speculative else 0
    if s.engine.max_num_batched_tokens is not None:
        key: KeyPath = (*base, "engine", "max_num_batched_tokens")
    elif s.engine.max_num_seqs is not None:
        key = (*base, "engine", "max_num_seqs")
    else:
        key = (*base, "speculative", "num_tokens")
    check_step_budget(e.max_num_batched_tokens, e.max_num_seqs, k, where=where(key))


def check_serving(sc: ServingScenario, catalog: Catalog, where: Any) -> None:
    """Raise :class:`UnknownNameError` for the first catalog name that does not exist."""

    def known(section: str, kind: str, name: str | None, key: KeyPath) -> None:
        if name is not None and name not in catalog.section(section):
            raise UnknownNameError(kind, name, list(catalog.section(section)), where=where(key))

    for i, s in enumerate(sc.serving.services):
        base: KeyPath = ("serving", "services", i)
        known("models", "model", s.model, (*base, "model"))
        known("accelerators", "GPU", s.gpu, (*base, "gpu"))
        known("systems", "system", s.system, (*base, "system"))
        if s.speculative is not None:
            known("models", "model", s.speculative.draft_model,
                  (*base, "speculative", "draft_model"))
        if s.autoscaler is not None:
            known("storage", "storage tier", s.autoscaler.storage,
                  (*base, "autoscaler", "storage"))
        pre = s.disaggregation.prefill_autoscaler if s.disaggregation else None
        if pre is not None:
            known("storage", "storage tier", pre.storage,
                  (*base, "disaggregation", "prefill_autoscaler", "storage"))
        _check_engine_budget(s, base, where)
        sys_, acc = cluster_hardware(catalog, s.system, s.gpu)
        if acc is None and s.gpu is not None:
            acc = catalog.accelerator(s.gpu)
        # the one split rule (perf.split), named at the service's own key
        check_split(catalog.models[s.model],
                    Split(tp=s.tp, pp=s.pp, ep=s.ep, dp_attention=s.dp_attention,
                          redundant_experts=s.redundant_experts), ep_over_dp=False,
                    padded_heads=acc is not None and acc.pads_attention_heads,
                    system=_service_system(catalog, s), where=_at_key(where, base))
        layout = s.disaggregation.prefill_layout if s.disaggregation else None
        if layout is not None:  # the prefill pool's own split, named at its own key
            p = layout.applied_to(s)
            check_split(catalog.models[s.model],
                        Split(tp=p.tp, pp=p.pp, ep=p.ep, dp_attention=p.dp_attention,
                              redundant_experts=p.redundant_experts), ep_over_dp=False,
                        padded_heads=acc is not None and acc.pads_attention_heads,
                        system=_service_system(catalog, p),
                        where=_at_key(where, (*base, "disaggregation", "prefill_layout")))
        if sys_ is not None and acc is not None:
            check_serving_site(sc.site, [(acc, sys_)], where)
    if sc.serving.failures is not None:
        known("storage", "storage tier", sc.serving.failures.storage,
              ("serving", "failures", "storage"))
        if sc.serving.failures.site_outages and not sc.sites:
            raise InputError("site outages need a run across sites (`sites:` and `users:`)",
                             where=where(("serving", "failures", "site_outages")))
    for i, src in enumerate(sc.serving.workload):
        if isinstance(src, RagSource) and src.pipeline is not None:
            check_rag_pipeline(src.pipeline, catalog, where, ("serving", "workload", i, "pipeline"),
                               src.chunks_per_request)


def _service_system(catalog: Catalog, s: ServiceOptions) -> System | None:
    """The node type a service runs on, as the run resolves it (``None``: not resolvable
    here; the run then says why)."""
    if s.system is not None:
        return catalog.systems.get(s.system)
    if s.gpu is None:
        return None
    try:
        return default_system_for(catalog, s.gpu)
    except InputError:
        return None


def _at_key(where: Any, base: KeyPath) -> Callable[[str], str]:
    """A :data:`gputwin.perf.split.Where` naming ``param`` under the key ``base``."""
    return lambda param: str(where((*base, param)))


def check_serving_site(site: SiteConfig, hardware: Sequence[tuple[Accelerator, System]],
                       where: Any = None) -> None:
    """Refuse a site the services cannot run in (a liquid-cooled GB200 NVL72 tray in an
    air-cooled hall: ``site.cooling``) and cluster-only options (``site.power_budget``).
    ``where`` maps a key path to its location (file:line or flag). Raises InputError."""
    loc = where or (lambda key: ".".join(str(k) for k in key))
    if site.power_budget is not None:
        raise InputError("a site power budget is not modelled in serving runs",
                         where=loc(("site", "power_budget")))
    for acc, system in hardware:
        try:
            rack_layout(site, acc, system)
        except InputError as exc:
            key = tuple((exc.where or "site").split("."))
            raise InputError(exc.detail, where=loc(key)) from None


def resolve_trace_paths(sc: ServingScenario, base: Path, where: Any) -> ServingScenario:
    sources: list[Any] = []
    for i, src in enumerate(sc.serving.workload):
        if isinstance(src, TraceSource):
            found = find_data_file(src.path, base, where(("serving", "workload", i, "path")))
            src = src.model_copy(update={"path": str(found)})
        elif isinstance(src, SyntheticSource) and src.lengths is not None:
            key = ("serving", "workload", i, "lengths", "path")
            found = find_data_file(src.lengths.path, base, where(key))
            src = src.model_copy(update={
                "lengths": src.lengths.model_copy(update={"path": str(found)})})
        sources.append(src)
    section = sc.serving.model_copy(update={"workload": sources})
    return sc.model_copy(update={"serving": section})
