"""A serving scenario's requests: every workload source's, merged by arrival time.

Synthetic sources (open-loop arrivals or closed-loop clients, lengths drawn or taken from
a length trace), replayed traces and RAG sources (with their pipelines' stage times) are
built from seeded named streams, so the same scenario and seed give the same requests.
Shared by one-site runs (:mod:`gputwin.run.simulate_serve`), runs across sites, the
shared fleet and the serving planner.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.scenario.serving import ServingScenario, ServingSection
from gputwin.scenario.serving_workload import (
    ArrivalOptions,
    RagSource,
    SyntheticSource,
    TraceSource,
)
from gputwin.serving.closed_loop import ClosedLoop
from gputwin.sim.rng import RandomStreams
from gputwin.workload.llm_request import LlmRequest, merge_streams
from gputwin.workload.llm_synthetic import (
    ArrivalProcess,
    generate_requests,
    lengths_from_trace,
)

if TYPE_CHECKING:
    from gputwin.run.serving_rag import RagStageTable


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


def trace_fields(workload: ServingWorkload) -> dict[str, Any]:
    """The summary fields a replayed trace brings (each only when there is one): the rows
    its reader left out and its prefix reuse bound."""
    out: dict[str, Any] = {}
    if workload.trace_rows_skipped:
        out["trace_rows_skipped"] = workload.trace_rows_skipped
    if workload.trace_prefix_reuse_frac is not None:
        out["trace_prefix_reuse_frac"] = workload.trace_prefix_reuse_frac
    return out


__all__ = ["ServingWorkload", "build_requests", "build_requests_and_stages", "closed_loops",
           "mark_warmup", "trace_fields"]
