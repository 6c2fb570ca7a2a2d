"""Facade for ``gputwin estimate rag`` and the RAG validation suite: one request's stages.

A RAG request on idle services: embed the query (``embed_s``), search the vector index
(and BM25 in parallel when ``hybrid``; ``retrieve_s`` is the slower of the two plus the
fusion), rerank ``candidates`` passages with a cross-encoder (``rerank_s``, 0 without a
reranker), then prefill the LLM prompt ``system + top_k·chunk + query`` with the cached
prefix skipped (``llm_ttft_s``). ``ttft_s`` is what the user waits for the first token
(all of the above); ``e2e_s = ttft_s + (output − 1)·tpot_s``. The same request without
retrieval (``system + query``) gives ``ttft_no_rag_s`` and ``ttft_increase_frac``.
Memory per component is in bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.perf.embedding import EncoderPerf, encoder_perf
from gputwin.perf.rag import decode_s, prefill_s
from gputwin.perf.serving import ServingConfig, ServingPerf, context_problem, prepare_serving
from gputwin.perf.vector_index import (
    IndexSpec,
    bm25_time_s,
    bytes_per_vector,
    check_fits_gpu,
    index_memory_bytes,
    recall,
    search_time_s,
)
from gputwin.topology.hardware import resolve_hardware

Pos = Field(gt=0)


class RagRequest(InputModel):
    """One RAG request and the services that answer it (names are catalog names)."""

    model: str = Field(description="The LLM")
    gpu: str = Field(description="The LLM's GPU")
    tp: int = Field(default=1, gt=0)
    weights: str = "bf16"
    engine: str = "vllm"
    max_num_batched_tokens: int = Field(default=8192, gt=0)
    embedder: str = "bge-large-en-v1.5"
    embed_gpu: str | None = Field(default=None, description="None = the LLM's GPU type")
    corpus: int = Field(default=10_000_000, gt=0, description="Vectors in the index")
    dim: int | None = Field(default=None, gt=0, description="None = the embedder's")
    index: str = "hnsw"
    vector_dtype: str = "fp32"
    m: int = Field(default=32, gt=1)
    ef_search: int = Field(default=64, gt=0)
    nlist: int | None = Field(default=None, gt=0)
    nprobe: int = Field(default=16, gt=0)
    pq_bytes: int = Field(default=64, gt=0)
    refine: int = Field(default=1, gt=0)
    shards: int = Field(default=1, gt=0)
    filter_selectivity: float = Field(default=1.0, gt=0, le=1)
    index_gpu: str | None = Field(default=None, description="GPU indexes; None = embed GPU")
    hybrid: bool = Field(default=False, description="BM25 keyword search in parallel")
    query_terms: int = Field(default=8, gt=0)
    top_k: int = Field(default=5, gt=0, description="Chunks placed in the prompt")
    reranker: str | None = None
    rerank_gpu: str | None = Field(default=None, description="None = the embed GPU")
    candidates: int | None = Field(default=None, gt=0, description="Reranked; None = 4·top_k")
    chunk_tokens: int = Field(default=512, gt=0)
    query_tokens: int = Field(default=64, gt=0)
    system_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=256, gt=0)
    prefix_hit_frac: float = Field(default=0.0, ge=0, le=1,
                                   description="Share of the chunk tokens already cached "
                                   "(the system prompt always is)")

    def index_spec(self, dim: int) -> IndexSpec:
        return IndexSpec(kind=self.index, num_vectors=self.corpus, dim=dim,
                         vector_dtype=self.vector_dtype, m=self.m, ef_search=self.ef_search,
                         nlist=self.nlist, nprobe=self.nprobe, pq_bytes=self.pq_bytes,
                         refine=self.refine, shards=self.shards,
                         selectivity=self.filter_selectivity)

    @property
    def num_candidates(self) -> int:
        return self.candidates or 4 * self.top_k


@dataclass(frozen=True, slots=True)
class RagEstimate:
    stages: dict[str, float]
    memory: dict[str, float]
    extra: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {**self.stages, **self.extra, "memory": dict(self.memory), **self.memory}


def _encoder(cat: Catalog, name: str, gpu: str, kind: str, where: str) -> EncoderPerf:
    return encoder_perf(cat.encoder(name), cat.accelerator(gpu), kind=kind, where=where)


def _llm(req: RagRequest, cat: Catalog) -> ServingPerf:
    hw = resolve_hardware(cat, gpu=req.gpu, system=None)
    cfg = ServingConfig(model=cat.model(req.model, where="--model"), hw=hw, tp=req.tp,
                        weights_dtype=req.weights, kv_cache_dtype="bf16",
                        max_num_batched_tokens=req.max_num_batched_tokens, engine=req.engine)
    return prepare_serving(cfg)


def _retrieval(req: RagRequest, cat: Catalog,
               emb: EncoderPerf) -> tuple[dict[str, float], IndexSpec]:
    dim = req.dim or emb.encoder.embedding_dim
    if dim is None:
        raise InputError(f"{emb.encoder.name} has no embedding_dim; give --dim", where="dim")
    spec = req.index_spec(dim)
    acc = cat.accelerator(req.index_gpu or req.embed_gpu or req.gpu) if spec.is_gpu else None
    if acc is not None:
        check_fits_gpu(spec, acc)
    k = req.num_candidates if req.reranker else req.top_k
    vector = search_time_s(spec, k, acc=acc)
    bm25 = bm25_time_s(req.corpus, req.query_terms) if req.hybrid else 0.0
    out = {"vector_search_s": vector, "bm25_s": bm25, "retrieve_s": max(vector, bm25),
           "recall": recall(spec, k)}
    return out, spec


def _check_names(req: RagRequest, cat: Catalog) -> None:
    """Look up every catalog name of ``req`` first, so that an unknown one is reported at
    its field (``index_gpu: unknown accelerator 'x'``), also where this request would not
    use it (``index_gpu`` with a CPU index)."""
    cat.model(req.model, where="model")
    for field in ("gpu", "embed_gpu", "index_gpu", "rerank_gpu"):
        name = getattr(req, field)
        if name is not None:
            cat.accelerator(name, where=field)
    cat.encoder(req.embedder, where="embedder")
    if req.reranker is not None:
        cat.encoder(req.reranker, where="reranker")


def estimate_rag(req: RagRequest, *, catalog: Catalog | None = None) -> RagEstimate:
    """Per-stage seconds and memory of one request (module docstring). Raises InputError
    at the request field (``index_gpu``, ``index.nlist``) where it can."""
    cat = catalog or default_catalog()
    _check_names(req, cat)
    embed_gpu = req.embed_gpu or req.gpu
    emb = _encoder(cat, req.embedder, embed_gpu, "embedding", "embedder")
    embed = emb.batch_time_s(1, req.query_tokens)
    ret, spec = _retrieval(req, cat, emb)
    rerank, rerank_bytes = 0.0, 0.0
    if req.reranker:
        rr = _encoder(cat, req.reranker, req.rerank_gpu or embed_gpu, "reranker", "reranker")
        rerank = rr.batch_time_s(req.num_candidates, req.query_tokens + req.chunk_tokens)
        rerank_bytes = rr.weights_bytes
    llm = _llm(req, cat)
    prompt = req.system_tokens + req.top_k * req.chunk_tokens + req.query_tokens
    too_long = context_problem(llm.config.model, prompt, req.output_tokens, (
        "the prompt (system + top_k x chunk_tokens + query tokens)", "output_tokens"))
    if too_long is not None:
        raise InputError(too_long, where="top_k")
    cached = req.system_tokens + int(req.prefix_hit_frac * req.top_k * req.chunk_tokens)
    llm_ttft = prefill_s(llm, prompt, cached)
    plain = req.system_tokens + req.query_tokens
    no_rag = prefill_s(llm, plain, req.system_tokens)
    tpot = decode_s(llm, prompt + req.output_tokens // 2)
    front = embed + ret["retrieve_s"] + rerank
    ttft = front + llm_ttft
    e2e = ttft + (req.output_tokens - 1) * tpot
    e2e_plain = no_rag + (req.output_tokens - 1) * decode_s(llm, plain + req.output_tokens // 2)
    stages = {"embed_s": embed, "retrieve_s": ret["retrieve_s"], "rerank_s": rerank,
              "llm_ttft_s": llm_ttft, "ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e}
    extra = {"vector_search_s": ret["vector_search_s"], "bm25_s": ret["bm25_s"],
             "recall": ret["recall"], "prompt_tokens": float(prompt),
             "cached_tokens": float(cached), "ttft_no_rag_s": no_rag,
             "ttft_increase_frac": ttft / no_rag - 1.0, "ttft_ratio": ttft / no_rag,
             "retrieval_share_of_ttft": front / ttft, "retrieval_share_of_e2e": front / e2e,
             "e2e_no_rag_s": e2e_plain}
    memory = {"embedder_bytes": emb.weights_bytes, "index_bytes": index_memory_bytes(spec),
              "index_bytes_per_shard": index_memory_bytes(spec) / spec.shards,
              "index_bytes_per_vector": bytes_per_vector(spec), "reranker_bytes": rerank_bytes,
              "llm_weights_bytes_per_gpu": llm.weights_bytes_per_gpu,
              "llm_kv_bytes": llm.kv_bytes_per_token_total * (prompt + req.output_tokens)}
    return RagEstimate(stages, memory, extra)
