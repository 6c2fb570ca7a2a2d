"""A serving scenario's engine options (``serving.services[].engine``) and the limits a
replica runs with once the engine profile (perf/engines.yaml) filled the unset ones.

Part of the serving scenario format (:mod:`gputwin.scenario.serving`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from gputwin.input_model import InputModel
from gputwin.perf.engines import (
    CapacityPolicy,
    EngineProfile,
    default_engine,
    engine_names,
    engine_profile,
)
from gputwin.quantities import BytesPerS, Seconds

if TYPE_CHECKING:
    from gputwin.catalog.schema import Accelerator

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


class EngineOptions(InputModel):
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

    frontend_latency: Seconds | None = Field(
        default=None, ge=0, le=60, description="The API server's time per request outside "
        "the engine loop (HTTP, tokenising, streaming back), added to TTFT and end-to-end "
        "latency (None = the profile's: vLLM's 4 ms, 0 for the others)")

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

    def resolved(self, dp_attention: int = 1,
                 accelerator: Accelerator | None = None) -> EngineSettings:
        """Concrete limits of a replica: the given values, the profile's defaults for the
        rest (on ``accelerator`` where the engine's defaults depend on the part: vLLM's
        larger ones on large GPUs); engines whose limits count one attention DP rank
        (TensorRT-LLM) hold them ``dp_attention`` times. The profile is the one this
        service runs: the capacity policy and graph padding given here replace the
        profile's."""
        p = engine_profile(self.name)
        seqs, budget = p.limits_for(accelerator)
        p = replace(p, capacity_policy=self.capacity_policy or p.capacity_policy,
                    pad_decode_to_graph=(p.pad_decode_to_graph if self.cuda_graph_padding
                                         is None else self.cuda_graph_padding),
                    frontend_latency_s=(p.frontend_latency_s if self.frontend_latency is None
                                        else self.frontend_latency))
        times = p.limits_multiplier(dp_attention)
        return EngineSettings(
            profile=p,
            block_size=self.block_size or p.block_size,
            max_num_seqs=(self.max_num_seqs or seqs) * times,
            max_num_batched_tokens=(self.max_num_batched_tokens or budget) * times,
            enable_chunked_prefill=(p.enable_chunked_prefill if self.enable_chunked_prefill
                                    is None else self.enable_chunked_prefill),
            gpu_memory_utilization=self.gpu_memory_utilization or p.memory_frac,
            budget_given=self.max_num_batched_tokens is not None,
            mixed_chunk=(p.mixed_chunk if self.enable_mixed_chunk is None
                         else self.enable_mixed_chunk))


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
