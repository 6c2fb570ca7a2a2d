"""One serving service of a scenario, built: step-time model, engine limits, pools.

``build_service(opts, catalog, extent)`` prepares the service's step-time model
(:func:`gputwin.perf.serving.prepare_serving`), sizes the KV cache (``num_kv_blocks``:
memory − weights − activation peak − overhead) and the token budget against the workload's
longest prompt (:class:`WorkloadExtent`), and returns the fleet's
:class:`~gputwin.serving.fleet.ServiceSpec` with its summary metadata and energy model.
Shared by one-site runs (:mod:`gputwin.run.simulate_serve`), runs across sites and the
shared fleet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, NamedTuple

from gputwin.catalog.loader import Catalog
from gputwin.catalog.schema import StorageTier
from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf.engines import (
    StepModel,
    kv_pool_blocks,
    kv_room_problem,
    local_kv_layout,
    step_model,
)
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.perf.serving_rates import runs_weight_only
from gputwin.run.serving_energy import ServiceEnergy
from gputwin.run.serving_summary import ServiceMeta
from gputwin.scenario.serving_service import AutoscalerOptions, ServiceOptions
from gputwin.serving.autoscaler import AutoscalerSpec
from gputwin.serving.config import EngineConfig
from gputwin.serving.fleet import PoolSpec, ServiceSpec
from gputwin.topology.hardware import resolve_hardware
from gputwin.workload.llm_request import LlmRequest


def _perf(opts: ServiceOptions, catalog: Catalog) -> ServingPerf:
    hw = resolve_hardware(catalog, gpu=opts.gpu, system=opts.system)
    spec = opts.speculative
    e = opts.engine.resolved(opts.dp_attention, hw.accelerator)
    cfg = ServingConfig(
        model=catalog.model(opts.model), hw=hw, tp=opts.tp, pp=opts.pp, ep=opts.ep,
        dp_attention=opts.dp_attention, redundant_experts=opts.redundant_experts,
        ep_imbalance=opts.ep_imbalance,
        weights_dtype=opts.weights_dtype,
        kv_cache_dtype=opts.kv_dtype(runs_weight_only(hw.accelerator, opts.weights_dtype)),
        num_speculative_tokens=spec.num_tokens if spec else 0,
        draft_model=catalog.model(spec.draft_model) if spec and spec.draft_model else None,
        draft_kind=spec.kind if spec else None,
        max_num_batched_tokens=e.max_num_batched_tokens, max_num_seqs=e.max_num_seqs,
        acceptance_rate=spec.acceptance if spec else 0.7, engine=e.profile.name)
    return prepare_serving(cfg)


class WorkloadExtent(NamedTuple):
    """A service's longest prompt and longest prompt + output, in tokens (they size a
    token budget without chunked prefill)."""

    prompt_tokens: int = 0
    sequence_tokens: int = 0


NO_EXTENT = WorkloadExtent()  # a service without requests


def workload_extents(reqs: Iterable[LlmRequest],
                     key: Callable[[LlmRequest], str] = lambda r: r.service
                     ) -> dict[str, WorkloadExtent]:
    """The :class:`WorkloadExtent` of each service (``key`` names a request's service)."""
    out: dict[str, WorkloadExtent] = {}
    for r in reqs:
        k = key(r)
        e = out.get(k, NO_EXTENT)
        p, n = r.num_prompt_tokens, r.num_prompt_tokens + r.num_output_tokens
        if p > e.prompt_tokens or n > e.sequence_tokens:
            out[k] = WorkloadExtent(max(p, e.prompt_tokens), max(n, e.sequence_tokens))
    return out


def engine_config(opts: ServiceOptions, perf: ServingPerf, model_max_len: int,
                  extent: WorkloadExtent = NO_EXTENT) -> EngineConfig:
    """The replica engine's limits; raises :class:`DoesNotFitError` without KV room.

    Without chunked prefill one step must hold a whole prompt. Under greedy admission
    (vLLM) a preempted sequence is recomputed as one prompt, so the budget must hold the
    longest prompt + output and caps the model length; TensorRT-LLM's no-evict policy
    never preempts, so only the longest prompt must fit. When the budget is the
    profile's default it is raised to what the workload needs (no-evict: the longest
    prompt beside a full decode batch, as trtllm-bench sizes max_num_tokens to its
    dataset); a budget given explicitly is kept and checked."""
    e = opts.engine.resolved(opts.dp_attention, perf.config.hw.accelerator)
    frac = e.gpu_memory_utilization
    blocks = kv_pool_blocks(perf.memory, e.profile, e.block_size, frac)
    if blocks < 1:
        raise DoesNotFitError(
            f"service {opts.name!r}: {opts.model} on {opts.tp}x{opts.pp} {opts.gpu or opts.system}"
            f" leaves no room for the KV cache: "
            f"{kv_room_problem(perf.memory, e.profile, e.block_size, frac) or ''}")
    k = opts.speculative.num_tokens if opts.speculative else 0
    layout = local_kv_layout(perf.memory, e.profile)
    weight, block_bytes = layout or (0, perf.kv_bytes_per_token_per_gpu)
    budget = e.max_num_batched_tokens
    max_len = opts.engine.max_model_len or model_max_len
    if not e.enable_chunked_prefill:
        no_evict = e.profile.capacity_policy == "no_evict"
        need, what = ((extent.prompt_tokens, "prompt") if no_evict
                      else (extent.sequence_tokens, "sequence (prompt + output)"))
        if not e.budget_given:
            # decodes take their tokens first: room for the longest prompt beside a full
            # decode batch (trtllm-bench: max_num_tokens >= max ISL + max batch size)
            budget = max(budget, need + e.max_num_seqs if no_evict and need else need)
        if need > budget:
            raise InputError(
                f"without chunked prefill the token budget ({budget}) must hold the longest "
                f"{what} of the workload ({need} tokens)",
                where=f"service {opts.name!r}: max_num_batched_tokens")
        if not no_evict:
            max_len = min(max_len, budget)
    return EngineConfig(
        num_kv_blocks=blocks, block_size=e.block_size, max_num_seqs=e.max_num_seqs,
        max_num_batched_tokens=budget, max_model_len=max_len,
        enable_chunked_prefill=e.enable_chunked_prefill,
        enable_prefix_caching=opts.engine.enable_prefix_caching,
        preemption_mode=opts.engine.preemption_mode,
        scheduling_policy=opts.engine.scheduling_policy,
        kv_block_bytes=e.block_size * block_bytes,
        local_window_tokens=perf.memory.shape.attn_window if weight else 0,
        local_block_weight=weight,
        swap_bandwidth_bytes_per_s=opts.engine.swap_bandwidth, num_speculative_tokens=k,
        tokens_per_step=perf.speculation.expected_tokens_per_step(),
        skip_decode_steps=opts.engine.skip_decode_steps,
        num_scheduler_steps=opts.engine.num_scheduler_steps,
        reserve_full_sequence=e.profile.capacity_policy == "no_evict",
        mixed_chunk=e.mixed_chunk,
        new_token_ratio=e.profile.capacity_policy == "new_token_ratio",
        prefill_min_free_kv_frac=opts.engine.prefill_min_free_kv_frac,
        frontend_latency_s=e.profile.frontend_latency_s,
        **context_hold_options(opts))


def context_hold_options(opts: ServiceOptions) -> dict[str, Any]:
    """The EngineConfig fields of TensorRT-LLM's context holds (default off)."""
    o = opts.engine
    return {"attention_dp_ranks": opts.dp_attention,
            "adp_enable_balance": o.adp_enable_balance,
            "adp_timeout_iters": o.adp_timeout_iters,
            "adp_batching_wait_iters": o.adp_batching_wait_iters,
            "batch_wait_timeout_iters": o.batch_wait_timeout_iters,
            "batch_wait_max_tokens_ratio": o.batch_wait_max_tokens_ratio}


def provision_delay_s(perf: ServingPerf, gpus_per_node: int, tier: StorageTier | None,
                      startup_overhead_s: float) -> float:
    """Weight loading: each node reads its GPUs' shards at the tier's per-node rate (and
    the replica's total at the aggregate rate), plus latency and a fixed overhead."""
    if tier is None:
        return startup_overhead_s
    gpus = perf.config.num_gpus
    per_node = perf.weights_bytes_per_gpu * min(gpus, gpus_per_node)
    t = per_node / tier.read_bandwidth_bytes_per_s_per_node
    if tier.aggregate_read_bandwidth_bytes_per_s:
        t = max(t, perf.weights_bytes_per_gpu * gpus / tier.aggregate_read_bandwidth_bytes_per_s)
    return t + tier.latency_s + startup_overhead_s


def _autoscaler(a: AutoscalerOptions | None, perf: ServingPerf,
                catalog: Catalog) -> AutoscalerSpec | None:
    """The pool policy of ``a`` (each pool of a disaggregated service runs its own)."""
    if a is None:
        return None
    tier = catalog.storage_tier(a.storage) if a.storage else None
    return AutoscalerSpec(metric=a.metric, target=a.target, interval_s=a.interval,
                          min_replicas=a.min_replicas, max_replicas=a.max_replicas,
                          scale_down_window_s=a.scale_down_stabilization,
                          provision_delay_s=provision_delay_s(
                              perf, perf.config.hw.gpus_per_node, tier, a.startup_overhead))


def _step_model(perf: ServingPerf, opts: ServiceOptions, eng: EngineConfig) -> StepModel:
    """The replica's step model: CUDA graphs captured up to its largest pure-decode
    batch (its max batch, or its token budget over the tokens each sequence decodes)."""
    cap = min(eng.max_num_seqs, eng.max_num_batched_tokens // (1 + eng.num_speculative_tokens))
    return step_model(perf, opts.engine.resolved(opts.dp_attention).profile, cap)


def build_service(opts: ServiceOptions, catalog: Catalog,
                  extent: WorkloadExtent = NO_EXTENT
                  ) -> tuple[ServiceSpec, ServiceMeta, ServiceEnergy]:
    perf = _perf(opts, catalog)
    model = catalog.model(opts.model)
    eng = engine_config(opts, perf, model.max_seq_len, extent)
    step = _step_model(perf, opts, eng)
    hw = perf.config.hw
    gpus = perf.config.num_gpus
    auto = _autoscaler(opts.autoscaler, perf, catalog)
    meta = ServiceMeta(
        name=opts.name, model=opts.model, gpu=hw.accelerator.name, gpus_per_replica=gpus,
        slo_ttft_s=opts.slo.ttft, slo_tpot_s=opts.slo.tpot, num_kv_blocks=eng.num_kv_blocks,
        block_size=eng.block_size, idle_rank_prompt_tokens=eng.idle_rank_prompt_tokens,
        frontend_latency_s=eng.frontend_latency_s)
    power = ServiceEnergy(opts.name, hw, perf)
    d = opts.disaggregation
    if d is None:
        pool = PoolSpec(eng, step, opts.replicas, gpus, opts.router, auto)
        return ServiceSpec(opts.name, pool, slo_ttft_s=opts.slo.ttft,
                           slo_tpot_s=opts.slo.tpot), meta, power
    bw = d.transfer_bandwidth
    decode = PoolSpec(eng, step, d.decode_replicas, gpus, "least_outstanding", auto)
    pre_perf, pre_eng, pre_step = perf, eng, step
    if d.prefill_layout is not None:  # the prefill pool's own split of the model
        pre_opts = d.prefill_layout.applied_to(opts)
        try:
            pre_perf = _perf(pre_opts, catalog)
        except InputError as exc:
            field = (exc.where or "").removeprefix("--")
            raise InputError(f"{field}: {exc.detail}" if field else exc.detail,
                             where=f"service {opts.name!r}: disaggregation.prefill_layout"
                             ) from None
        pre_eng = engine_config(pre_opts, pre_perf, model.max_seq_len, extent)
        pre_step = _step_model(pre_perf, pre_opts, pre_eng)
        power = ServiceEnergy(opts.name, hw, perf, prefill_perf=pre_perf)
        meta = replace(meta, prefill_gpus_per_replica=pre_perf.config.num_gpus,
                       idle_rank_prompt_tokens=pre_eng.idle_rank_prompt_tokens)
    pre_auto = _autoscaler(d.prefill_autoscaler, pre_perf, catalog) or auto
    prefill = PoolSpec(pre_eng, pre_step, d.prefill_replicas, pre_perf.config.num_gpus,
                       opts.router, pre_auto)
    # sender (prefill group) and receiver (decode group) NICs: the slower side bounds it
    return ServiceSpec(opts.name, decode, prefill_pool=prefill,
                       kv_transfer_s=lambda n: max(perf.kv_transfer_time_s(n, bw),
                                                   pre_perf.kv_transfer_time_s(n, bw)),
                       slo_ttft_s=opts.slo.ttft, slo_tpot_s=opts.slo.tpot), meta, power


__all__ = ["NO_EXTENT", "WorkloadExtent", "build_service", "context_hold_options", "engine_config",
           "provision_delay_s", "workload_extents"]
