"""Composition root of a serving simulation: scenario → services + requests → fleet → result.

``simulate_serving(scenario)`` resolves catalog names, prepares the step-time model of
each service (:func:`gputwin.perf.serving.prepare_serving`), sizes the KV cache
(``num_kv_blocks``: memory − weights − activation peak − overhead), builds the request
stream (traces, synthetic, RAG; seeded named streams), runs the
:class:`~gputwin.serving.fleet.Fleet` and summarises. Deterministic: the same scenario
and seed give the same result (except wall time).
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from gputwin.catalog.loader import Catalog, default_catalog
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
from gputwin.run.generation_run import (
    BuiltGeneration,
    build_generation,
    generation_loads,
    summarize_generation,
)
from gputwin.run.serving_energy import (
    ServiceEnergy,
    ServingEnergy,
    account_serving,
    energy_fields,
    finished_tokens,
)
from gputwin.run.serving_results import (
    REQUEST_COLUMNS,
    RequestTable,
    ServiceTimelineData,
    ServingResult,
)
from gputwin.run.serving_summary import (
    ServiceMeta,
    replica_records,
    request_counts,
    request_table,
    summarize_service,
    timeline_data,
)
from gputwin.scenario.serving import ServingScenario, ServingSection, check_serving_site
from gputwin.scenario.serving_service import AutoscalerOptions, ServiceOptions
from gputwin.scenario.serving_workload import (
    ArrivalOptions,
    RagSource,
    SyntheticSource,
    TraceSource,
)
from gputwin.serving.autoscaler import AutoscalerSpec
from gputwin.serving.closed_loop import ClosedLoop
from gputwin.serving.config import EngineConfig
from gputwin.serving.fleet import Fleet, FleetOutcome, PoolSpec, ServiceSpec
from gputwin.serving.generation import GenerationRun, simulate_generation
from gputwin.sim.rng import RandomStreams
from gputwin.topology.hardware import resolve_hardware
from gputwin.workload.llm_request import LlmRequest, merge_streams
from gputwin.workload.llm_synthetic import (
    ArrivalProcess,
    generate_requests,
    lengths_from_trace,
)

if TYPE_CHECKING:
    from gputwin.run.serving_rag import RagStageTable
    from gputwin.serving.replica_faults import FaultPlan


def _perf(opts: ServiceOptions, catalog: Catalog) -> ServingPerf:
    hw = resolve_hardware(catalog, gpu=opts.gpu, system=opts.system)
    spec = opts.speculative
    e = opts.engine.resolved(opts.dp_attention)
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
    e = opts.engine.resolved(opts.dp_attention)
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
        no_evict = e.capacity_policy == "no_evict"
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
        reserve_full_sequence=e.capacity_policy == "no_evict",
        mixed_chunk=e.mixed_chunk,
        new_token_ratio=e.capacity_policy == "new_token_ratio",
        prefill_min_free_kv_frac=opts.engine.prefill_min_free_kv_frac,
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
        block_size=eng.block_size, idle_rank_prompt_tokens=eng.idle_rank_prompt_tokens)
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


def _arrivals(a: ArrivalOptions) -> ArrivalProcess:
    return ArrivalProcess(kind=a.process, rate_per_s=a.rate, cv=a.cv,
                          burst_factor=a.burst_factor, on_s=a.on, off_s=a.off, start_s=a.start,
                          amplitude_frac=a.amplitude, period_s=a.period, peak_s=a.peak)


#: closed-loop requests are drawn with this arrival process: the times only order them
#: (their clients send them as earlier ones complete)
_CLOSED_ORDER = ArrivalProcess(kind="fixed", rate_per_s=1e12)


def closed_loops(section: ServingSection) -> dict[int, ClosedLoop]:
    """The closed-loop client groups of a serving section: one per synthetic source with a
    ``concurrency``, keyed by the source's index (its requests' ``closed_loop``)."""
    return {i: ClosedLoop(src.concurrency, src.think_time)
            for i, src in enumerate(section.workload)
            if isinstance(src, SyntheticSource) and src.concurrency is not None}


class ServingWorkload(NamedTuple):
    """A serving scenario's requests and what came with them."""

    requests: list[LlmRequest]  # every source's, merged by arrival time (ids 0, 1, ...)
    stages: RagStageTable | None  # the RAG pipelines' stage times (None without one)
    trace_rows_skipped: dict[str, int]  # rows the trace readers left out, by reason
    #: share of the replayed prefix-id traces' prompt tokens in blocks an earlier request
    #: sent (the hit rate an unbounded prefix cache would reach; None without such a trace)
    trace_prefix_reuse_frac: float | None = None


def mark_warmup(requests: list[LlmRequest], count: int) -> None:
    """Mark the first ``count`` of one source's requests (in send order) as warm-up:
    served, but left out of the summary metrics."""
    for j in range(min(count, len(requests))):
        requests[j] = replace(requests[j], warmup=True)


def build_requests(sc: ServingScenario, streams: RandomStreams) -> list[LlmRequest]:
    """Every source's requests merged by arrival time (ids 0, 1, ...)."""
    return build_requests_and_stages(sc, streams).requests


def build_requests_and_stages(sc: ServingScenario, streams: RandomStreams,
                              catalog: Catalog | None = None) -> ServingWorkload:
    """:func:`build_requests`, the RAG pipelines' stage times (the pipeline modules are only
    imported when a source has one), the trace rows the readers skipped and the prefix
    reuse of replayed prefix-id traces (:class:`ServingWorkload`)."""
    parts: list[list[LlmRequest]] = []
    timed: dict[int, Any] = {}
    skipped: dict[str, int] = {}
    hashed: list[LlmRequest] = []  # requests of traces that carry prefix ids
    for i, src in enumerate(sc.serving.workload):
        name = f"source{i}"
        if isinstance(src, SyntheticSource):
            arrivals = _CLOSED_ORDER if src.arrival is None else _arrivals(src.arrival)
            parts.append(generate_requests(src.num_requests, arrivals,
                                           src.prompt.to_dist(), src.output.to_dist(), streams,
                                           name=name, service=src.service,
                                           priority=src.priority,
                                           lengths=_trace_lengths(src, streams, name),
                                           repeat=src.repeat,
                                           closed_loop=i if src.arrival is None else -1))
            mark_warmup(parts[-1], src.warmup_requests)
        elif isinstance(src, RagSource):
            from gputwin.workload.llm_rag import RagSpec, generate_rag_requests

            spec = RagSpec(num_chunks=src.num_chunks, chunks_per_request=src.chunks_per_request,
                           chunk_tokens=src.chunk_tokens, system_tokens=src.system_tokens,
                           zipf_s=src.zipf_s, query=src.query.to_dist(),
                           output=src.output.to_dist(), retrieval_s=src.retrieval)
            part = generate_rag_requests(src.num_requests, _arrivals(src.arrival), spec,
                                         streams, name=name, service=src.service)
            if src.pipeline is not None:
                from gputwin.run.serving_rag import apply_pipeline, build_pipeline

                pipe, info = build_pipeline(src.pipeline, src.chunks_per_request,
                                            src.chunk_tokens, catalog or default_catalog())
                part, times = apply_pipeline(part, pipe, src.chunk_tokens)
                timed[len(parts)] = (times, {"source": i, "service": src.service, **info})
            parts.append(part)
        else:
            parts.append(_read_trace(src, skipped))
            if src.format == "mooncake" and src.use_prefix_hashes:
                hashed += parts[-1]
    stages = None
    if timed:
        from gputwin.run.serving_rag import merge_stage_times

        stages = merge_stage_times(parts, timed)
    from gputwin.workload.llm_traces import prefix_reuse_frac

    return ServingWorkload(parts[0] if len(parts) == 1 else merge_streams(parts), stages,
                           skipped, prefix_reuse_frac(hashed) if hashed else None)


def _trace_lengths(src: SyntheticSource, streams: RandomStreams, name: str
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """The source's prompt/output lengths from its length trace, or None (draws)."""
    opts = src.lengths
    if opts is None:
        return None
    trace = TraceSource(kind="trace", format=opts.format, path=opts.path,
                        use_prefix_hashes=False)
    return lengths_from_trace(_read_trace(trace), src.num_requests, sample=opts.sample,
                              rng=streams.stream(f"llm/{name}/lengths"))


def _read_trace(src: TraceSource, skipped: dict[str, int] | None = None
                ) -> list[LlmRequest]:
    """The trace's requests; the rows its reader skips are counted in ``skipped``."""
    from gputwin.workload.llm_traces import read_llm_trace

    return read_llm_trace(src.format, src.path, max_requests=src.max_requests,
                          speedup=src.speedup, service=src.service,
                          use_prefix_hashes=src.use_prefix_hashes, model=src.model_filter,
                          log_type=src.log_type, skipped=skipped)


def simulate_serving(sc: ServingScenario, *, catalog: Catalog | None = None,
                     progress: Callable[[float], None] | None = None,
                     requests: list[LlmRequest] | None = None) -> ServingResult:
    """Run a serving scenario (``requests`` overrides its workload). Raises InputError.

    The cyclic garbage collector is paused for the run (and restored after): the run
    allocates millions of small acyclic objects (requests, heap entries) that reference
    counting frees, and the collector's full passes over them cost ~10-15 % of the wall
    time at a million requests without finding anything to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        if sc.sites:
            from gputwin.run.simulate_sites import simulate_sites

            return simulate_sites(sc, catalog=catalog, progress=progress, requests=requests)
        return _simulate_serving(sc, catalog, progress, requests)
    finally:
        if enabled:
            gc.enable()


def _service_summaries(metas: dict[str, ServiceMeta], table: RequestTable,
                       timelines: dict[str, ServiceTimelineData], out: FleetOutcome,
                       start_s: float, acct: Any, faults: Any) -> dict[str, Any]:
    """Each LLM service's summary: metrics, failures (when faults ran), energy and cost."""
    services: dict[str, Any] = {}
    for name, meta in metas.items():
        s = services[name] = summarize_service(
            meta, table, timelines[name], out.itl.get(name), start_s=start_s,
            end_s=out.end_s, num_preemptions=out.num_preemptions.get(name, 0),
            only_service=len(metas) == 1)
        if faults is not None:
            from gputwin.run.serving_faults import failures_report, replica_s

            s["failures"] = failures_report(faults, name, replica_s(out, name))
        out_tok, in_tok = finished_tokens(table, None if len(metas) == 1 else name)
        s.update(energy_fields(acct.services[name], priced=acct.priced[name],
                               energy_in_price=acct.energy_in_price,
                               output_tokens=out_tok, input_tokens=in_tok,
                               gpu_energy_j=acct.gpu_energy_j[name]))
    return services


def trace_fields(workload: ServingWorkload) -> dict[str, Any]:
    """The summary fields a replayed trace brings (each only when there is one): the rows
    its reader left out and its prefix reuse bound."""
    out: dict[str, Any] = {}
    if workload.trace_rows_skipped:
        out["trace_rows_skipped"] = workload.trace_rows_skipped
    if workload.trace_prefix_reuse_frac is not None:
        out["trace_prefix_reuse_frac"] = workload.trace_prefix_reuse_frac
    return out


def _add_workload(summary: dict[str, Any], workload: ServingWorkload,
                  table: RequestTable) -> None:
    """What came with the requests into the run's summary: :func:`trace_fields` and the
    RAG stages (when a source has a pipeline)."""
    summary.update(trace_fields(workload))
    if workload.stages is not None:
        from gputwin.run.serving_rag import rag_summary

        summary["rag"] = rag_summary(workload.stages, table)


def _add_generation(summary: dict[str, Any], generation: dict[str, Any],
                    total_it_energy_j: float) -> None:
    """Generation services into the run's summary and totals (cost unknown if any is)."""
    summary["generation"] = generation
    gen_costs = [g["cost_usd"] for g in generation.values()]
    if summary["total_cost_usd"] is not None:
        summary["total_cost_usd"] = (None if None in gen_costs
                                     else summary["total_cost_usd"] + sum(gen_costs))
    summary["total_energy_j"] = total_it_energy_j


def _simulate_serving(sc: ServingScenario, catalog: Catalog | None,
                      progress: Callable[[float], None] | None,
                      requests: list[LlmRequest] | None) -> ServingResult:
    wall0 = time.perf_counter()
    cat = catalog or default_catalog()
    workload = (ServingWorkload(requests, None, {}) if requests is not None
                else build_requests_and_stages(sc, RandomStreams(sc.seed), cat))
    reqs = workload.requests
    extents = workload_extents(reqs)
    built = [build_service(s, cat, extents.get(s.name, NO_EXTENT))
             for s in sc.serving.services]
    check_serving_site(sc.site, [(b[2].hw.accelerator, b[2].hw.system) for b in built])
    fleet: Fleet | None = None
    if built:
        fleet = Fleet([b[0] for b in built], reqs, horizon_s=sc.horizon,
                      sample_interval_s=sc.serving.sample_interval,
                      max_total_gpus=sc.serving.max_total_gpus,
                      faults=_faults(sc, built, cat), closed_loops=closed_loops(sc.serving))
        out = fleet.run(progress)
    else:  # generation services only
        out = FleetOutcome([], [], {}, {}, 0.0, 0, {})
    metas = {m.name: m for _, m, _ in built}
    table = request_table(out.states, metas)
    replicas = replica_records(out)
    timelines = {name: timeline_data(tl) for name, tl in out.timelines.items()}
    start = min((r.arrival_time_s for r in reqs), default=0.0)
    gen = _run_generation(sc, cat)
    acct = account_serving(sc.site, [b[2] for b in built], replicas, table,
                           generation_loads(*gen) if gen else ())
    services = _service_summaries(metas, table, timelines, out, start, acct,
                                  fleet.faults if fleet is not None else None)
    generation = {} if gen is None else {
        name: summarize_generation(gen[0], gen[1], name, energy_fields(
            acct.services[name], priced=acct.priced[name],
            energy_in_price=acct.energy_in_price, output_tokens=0, input_tokens=0,
            gpu_energy_j=acct.gpu_energy_j.get(name, 0.0)))
        for name in gen[0].configs}
    wall = time.perf_counter() - wall0
    end_s = max(out.end_s, gen[1].end_s if gen else 0.0)
    summary = _summary(sc, table, services, end_s, wall, out.num_events, acct)
    _add_workload(summary, workload, table)
    if generation:
        _add_generation(summary, generation, acct.total.it_energy_j)
    return ServingResult(scenario_name=sc.name, seed=sc.seed, end_time_s=end_s,
                         requests=table, replicas=replicas, timelines=timelines,
                         summary=summary, wall_time_s=wall, num_events=out.num_events,
                         generation_requests=gen[1].requests if gen else ())


def _faults(sc: ServingScenario, built: list[tuple[ServiceSpec, ServiceMeta, ServiceEnergy]],
            catalog: Catalog) -> FaultPlan | None:
    """``serving.failures`` of a one-site run (the fault plan module only when set)."""
    if sc.serving.failures is None:
        return None
    from gputwin.run.serving_faults import FaultTarget, fault_plan

    targets = [FaultTarget(opts.name, b[2], opts.autoscaler.storage if opts.autoscaler else None)
               for opts, b in zip(sc.serving.services, built, strict=True)]
    return fault_plan(sc.serving.failures, sc.seed, targets, catalog)


def _run_generation(sc: ServingScenario, catalog: Catalog
                    ) -> tuple[BuiltGeneration, GenerationRun] | None:
    """The image/video generation services of ``serving.generation`` (None without)."""
    section = sc.serving.generation
    if section is None:
        return None
    built = build_generation(section, catalog, RandomStreams(sc.seed))
    return built, simulate_generation(built.services, built.requests, horizon_s=sc.horizon)


def _summary(sc: ServingScenario, table: RequestTable, services: dict[str, Any],
             end_s: float, wall_s: float, num_events: int,
             acct: ServingEnergy) -> dict[str, Any]:
    records = table
    flat = dict(next(iter(services.values()))) if len(services) == 1 else {}
    costs = [s["cost_usd"] for s in services.values()]
    total_out = finished_tokens(table)[0]  # the tokens total_cost_usd paid for
    total = acct.total
    return {
        "kind": "serving", "scenario": sc.name, "seed": sc.seed,
        **request_counts(table),
        "end_time_s": end_s,
        **{k: v for k, v in flat.items() if k not in ("num_requests", "warmup_requests")},
        "total_cost_usd": None if None in costs else sum(costs),
        "total_output_tokens": total_out,
        "total_energy_j": total.it_energy_j,
        "total_co2e_g": total.co2e_operational_g + total.co2e_embodied_g,
        "total_water_l": total.water_onsite_l + total.water_grid_l,
        "site": acct.site,
        "services": services,
        "wall_time_s": wall_s, "num_events": num_events,
        "requests_per_wall_s": len(records) / wall_s if wall_s > 0 else math.inf,
    }


__all__ = ["REQUEST_COLUMNS", "ServingWorkload", "build_requests", "build_requests_and_stages",
           "build_service", "simulate_serving", "trace_fields"]
