"""Wiring of RAG pipelines into a serving run: options → stage models → request delays,
and the per-stage latency summary of the run.

``apply_pipeline`` runs the front stages of one RAG source
(:class:`~gputwin.serving.rag_pipeline.RagPipeline`) over its requests and sets each
request's ``pre_delay_s`` to its time in front of the LLM. ``RagStageTable`` keeps the
stage times by final request id; ``rag_summary`` gives their percentiles next to the LLM
TTFT (TTFT − time in front) and the user-visible TTFT and end-to-end latency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gputwin.catalog.loader import Catalog
from gputwin.perf.embedding import encoder_perf
from gputwin.perf.vector_index import (
    bm25_time_s,
    bytes_per_vector,
    index_memory_bytes,
    recall,
    search_time_s,
)
from gputwin.run.serving_results import RequestTable
from gputwin.run.serving_summary import _dist
from gputwin.scenario.rag import RagPipelineOptions, index_spec
from gputwin.serving.rag_pipeline import RagPipeline, StageSpec, StageTimes
from gputwin.workload.llm_request import LlmRequest

STAGES = ("embed_s", "retrieve_s", "rerank_s", "front_s")


def build_pipeline(p: RagPipelineOptions, top_k: int, chunk_tokens: int,
                   catalog: Catalog) -> tuple[RagPipeline, dict[str, Any]]:
    """The stage models of ``p`` and a description (recall, memory) for the summary."""
    emb = encoder_perf(catalog.encoder(p.embedder.model), catalog.accelerator(p.embedder.gpu))
    spec = index_spec(p, catalog)
    k = p.reranker.candidates if p.reranker else top_k
    acc = catalog.accelerator(p.index.gpu) if p.index.gpu else None
    embed = StageSpec("embed", p.embedder.replicas, p.embedder.max_batch, emb.batch_time_s)
    if spec.is_gpu:
        retrieve = StageSpec("retrieve", p.index.replicas, p.index.max_batch,
                             lambda n, _t: search_time_s(spec, k, batch=n, acc=acc))
    else:
        one = search_time_s(spec, k)
        retrieve = StageSpec("retrieve", p.index.replicas * p.index.threads, 1,
                             lambda _n, _t: one)
    bm25 = None
    if p.bm25 is not None:
        kw = bm25_time_s(spec.num_vectors, p.bm25.query_terms)
        bm25 = StageSpec("bm25", p.bm25.replicas * p.bm25.threads, 1, lambda _n, _t: kw)
    rerank = None
    if p.reranker is not None:
        rr = encoder_perf(catalog.encoder(p.reranker.model), catalog.accelerator(p.reranker.gpu))
        pairs = p.reranker.candidates
        rerank = StageSpec("rerank", p.reranker.replicas, p.reranker.max_batch,
                           lambda n, t: rr.batch_time_s(n * pairs, t))
    info = {"index": spec.kind, "corpus_vectors": spec.num_vectors, "dim": spec.dim,
            "recall": recall(spec, k), "index_bytes": index_memory_bytes(spec),
            "index_bytes_per_vector": bytes_per_vector(spec),
            "embedder_bytes": emb.weights_bytes,
            "reranker_bytes": rr.weights_bytes if p.reranker is not None else 0.0}
    return RagPipeline(embed, retrieve, bm25, rerank, chunk_tokens), info


def apply_pipeline(reqs: list[LlmRequest], pipeline: RagPipeline,
                   chunk_tokens: int) -> tuple[list[LlmRequest], StageTimes]:
    """``reqs`` with ``pre_delay_s`` = their time in front of the LLM, and the stage times.

    A RAG prompt is whole chunk blocks (system prompt and retrieved chunks, one prefix id
    each) followed by the query, so the query is the prompt minus those blocks."""
    n = len(reqs)
    arrival = np.fromiter((r.arrival_time_s for r in reqs), np.float64, n)
    query = np.fromiter((max(1, r.num_prompt_tokens - len(r.prefix_hashes) * chunk_tokens)
                         for r in reqs), np.int64, n)
    times = pipeline.run(arrival, query)
    front = times.front_s.tolist()
    return [replace(r, pre_delay_s=d) for r, d in zip(reqs, front, strict=True)], times


@dataclass(slots=True)
class RagStageTable:
    """Stage seconds by final request id (NaN: not a pipeline request)."""

    columns: dict[str, np.ndarray]
    pipelines: list[dict[str, Any]]


def merge_stage_times(parts: Sequence[Sequence[LlmRequest]],
                      timed: dict[int, tuple[StageTimes, dict[str, Any]]]) -> RagStageTable:
    """Place each part's stage times where :func:`merge_streams` puts its requests (a
    stable sort of the concatenated parts by arrival time)."""
    arrival = np.concatenate([np.fromiter((r.arrival_time_s for r in p), np.float64, len(p))
                              for p in parts]) if parts else np.empty(0)
    n = len(arrival)
    cols = {k: np.full(n, np.nan) for k in STAGES}
    offset = 0
    for i, part in enumerate(parts):
        if i in timed:
            times = timed[i][0]
            for k in STAGES:
                cols[k][offset:offset + len(part)] = getattr(times, k)
        offset += len(part)
    if len(parts) > 1:
        order = np.argsort(arrival, kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    return RagStageTable(cols, [info for _, info in timed.values()])


def rag_summary(stages: RagStageTable, table: RequestTable) -> dict[str, Any]:
    """Per-stage latency percentiles of the pipeline requests and how they ended."""
    mask = ~np.isnan(stages.columns["front_s"])
    status = table.status[mask]
    fin = mask & (table.status == 0)
    ttft = table.ttft_s[fin]
    front = stages.columns["front_s"][fin]
    out: dict[str, Any] = {
        "num_requests": int(mask.sum()),
        "requests_by_status": {"finished": int((status == 0).sum()),
                               "dropped": int((status == 1).sum()),
                               "in_flight": int((status == 2).sum())},
        "pipelines": stages.pipelines,
    }
    for k in ("embed_s", "retrieve_s", "rerank_s"):
        out[k] = _dist(stages.columns[k][mask])
    out["front_s"] = _dist(stages.columns["front_s"][mask])
    ok = ~np.isnan(ttft)
    out["llm_ttft_s"] = _dist((ttft - front)[ok])
    out["ttft_s"] = _dist(ttft[ok])
    e2e = table.e2e_s[fin]
    out["e2e_s"] = _dist(e2e[~np.isnan(e2e)])
    return out
