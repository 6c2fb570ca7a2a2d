"""A serving scenario's services (``serving.services[]``): model, hardware and split,
router, engine, speculative decoding, disaggregated pools, autoscaler and SLOs.

Part of the serving scenario format (:mod:`gputwin.scenario.serving`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.limits import ReplicaCount
from gputwin.perf.engines import engine_names, engine_profile
from gputwin.perf.speculation import DEFAULT_DRAFT_KIND, DraftKind, draft_model_problem
from gputwin.quantities import BytesPerS, Seconds
from gputwin.scenario.serving_engine import EngineOptions, PosInt
from gputwin.serving.router import parse_router_spec, router_names, router_spec


class SpeculativeOptions(InputModel):
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


class AutoscalerOptions(InputModel):
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


class PoolLayout(InputModel):
    """A pool's own split of the model; unset fields keep the service's."""

    tp: PosInt | None = None
    pp: PosInt | None = None
    ep: PosInt | None = None
    dp_attention: PosInt | None = None

    def applied_to(self, service: ServiceOptions) -> ServiceOptions:
        """``service`` with this layout's fields in place of its own."""
        return service.model_copy(update={k: v for k, v in self.model_dump().items()
                                          if v is not None})


class DisaggregationOptions(InputModel):
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


class SloOptions(InputModel):
    ttft: Annotated[Seconds, Field(gt=0)] | None = None
    tpot: Annotated[Seconds, Field(gt=0)] | None = None


def _engine_shorthand_schema(schema: dict[str, Any]) -> None:
    """The JSON schema of ``engine`` also takes the shorthand ``engine: <name>``."""
    props = schema.get("properties", {})
    if "engine" in props:
        props["engine"] = {"anyOf": [props["engine"], {"enum": list(engine_names())}],
                           "description": "An engine name, or {name: ..., <limits>}"}


class ServiceOptions(InputModel):
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
