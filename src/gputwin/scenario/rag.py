"""The ``pipeline:`` of a RAG workload source: the services in front of the LLM.

::

    workload:
      - kind: rag
        service: chat              # the LLM service the prompts go to
        num_requests: 2000
        arrival: {process: poisson, rate: 20}
        chunks_per_request: 5      # top-k chunks in the prompt
        pipeline:
          embedder: {model: bge-large-en-v1.5, gpu: l40s, replicas: 1, max_batch: 32}
          index: {type: hnsw, corpus: 10000000, m: 32, ef_search: 128, shards: 2,
                  replicas: 2, threads: 16}
          bm25: {replicas: 1, threads: 8}                 # optional: hybrid search
          reranker: {model: bge-reranker-v2-m3, gpu: l40s, candidates: 20}

Without ``pipeline:`` the source keeps its fixed ``retrieval`` delay. Names are checked
against the catalog (``encoders``, ``accelerators``) with file:line locations by
:func:`check_rag_pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError, UnknownNameError
from gputwin.input_model import InputModel
from gputwin.limits import MAX_STAGE_SERVERS, ReplicaCount
from gputwin.perf.embedding import encoder_perf
from gputwin.perf.vector_index import IndexSpec, check_fits_gpu
from gputwin.yaml_io import KeyPath

PosInt = Annotated[int, Field(gt=0)]
IndexKind = Literal["flat", "hnsw", "ivf_flat", "ivf_pq", "gpu_flat", "cagra", "gpu_ivf_pq"]


class _M(InputModel):
    """The rules of every user input (:class:`gputwin.input_model.InputModel`)."""


def check_stage_servers(replicas: int, threads: int) -> None:
    """A CPU stage runs ``replicas x threads`` servers (one queue slot each); raises
    ``ValueError`` (pydantic names the service) above :data:`MAX_STAGE_SERVERS`."""
    if replicas * threads > MAX_STAGE_SERVERS.value:
        raise ValueError(f"replicas x threads: {MAX_STAGE_SERVERS.message(replicas * threads)}")


class EncoderService(_M):
    model: str = Field(description="Catalog encoder")
    gpu: str = Field(default="l40s", description="Catalog accelerator")
    replicas: ReplicaCount = 1  # bounded: gputwin.limits
    max_batch: PosInt = Field(default=32, description="Dynamic batching limit")


class RerankerService(EncoderService):
    candidates: PosInt = Field(default=20, description="Passages retrieved and reranked")


class IndexService(_M):
    type: IndexKind = "hnsw"
    corpus: PosInt = Field(description="Vectors (chunks) in the index")
    dim: PosInt | None = Field(default=None, description="None = the embedder's")
    vector_dtype: Literal["fp32", "fp16", "int8"] = "fp32"
    m: int = Field(default=32, ge=2, description="HNSW M; CAGRA graph degree / 2")
    ef_search: PosInt = Field(default=64, description="HNSW efSearch; CAGRA itopk")
    nlist: PosInt | None = Field(default=None, description="IVF lists; None = 4*sqrt(n)")
    nprobe: PosInt = 16
    pq_bytes: PosInt = 64
    refine: PosInt = 1
    shards: PosInt = 1
    replicas: ReplicaCount = 1
    threads: PosInt = Field(default=16, description="Concurrent queries per CPU replica")
    gpu: str | None = Field(default=None, description="GPU indexes (cagra, gpu_*)")
    max_batch: PosInt = Field(default=64, description="GPU indexes: queries per batch")
    filter_selectivity: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _servers(self) -> IndexService:
        check_stage_servers(self.replicas, self.threads)
        return self


class Bm25Service(_M):
    replicas: ReplicaCount = 1
    threads: PosInt = 8
    query_terms: PosInt = 8

    @model_validator(mode="after")
    def _servers(self) -> Bm25Service:
        check_stage_servers(self.replicas, self.threads)
        return self


class RagPipelineOptions(_M):
    embedder: EncoderService
    index: IndexService
    bm25: Bm25Service | None = Field(default=None, description="Hybrid keyword search")
    reranker: RerankerService | None = None


def check_rag_pipeline(p: RagPipelineOptions, catalog: Catalog,
                       where: Callable[[KeyPath], str], base: KeyPath, top_k: int) -> None:
    """Raise :class:`InputError` for an unknown name, an impossible index or a reranker
    that keeps fewer passages than the prompt's ``top_k`` chunks, naming the scenario key
    (``where(base + key)``)."""
    if p.reranker is not None and p.reranker.candidates < top_k:
        raise InputError(f"the reranker must see at least the {top_k} chunks of the prompt "
                         f"(chunks_per_request), got {p.reranker.candidates}",
                         where=where((*base, "reranker", "candidates")))

    def known(section: str, kind: str, name: str | None, key: KeyPath) -> None:
        if name is not None and name not in catalog.section(section):
            raise UnknownNameError(kind, name, list(catalog.section(section)),
                                   where=where((*base, *key)))

    for part, kind in (("embedder", "embedding"), ("reranker", "reranker")):
        svc: EncoderService | None = getattr(p, part)
        if svc is None:
            continue
        known("encoders", "encoder", svc.model, (part, "model"))
        known("accelerators", "GPU", svc.gpu, (part, "gpu"))
        try:
            encoder_perf(catalog.encoder(svc.model), catalog.accelerator(svc.gpu), kind=kind)
        except InputError as exc:
            raise InputError(exc.detail, where=where((*base, part, "model"))) from None
    known("accelerators", "GPU", p.index.gpu, ("index", "gpu"))
    try:
        spec = index_spec(p, catalog)
    except InputError as exc:
        field = (exc.where or "index").split(".")[-1]
        raise InputError(exc.detail, where=where((*base, "index", field))) from None
    if spec.is_gpu and p.index.gpu is None:
        raise InputError(f"a {spec.kind} index needs `gpu`", where=where((*base, "index")))
    if spec.is_gpu and p.index.gpu is not None:
        try:
            check_fits_gpu(spec, catalog.accelerator(p.index.gpu))
        except InputError as exc:
            raise InputError(exc.detail, where=where((*base, "index", "shards"))) from None


def index_spec(p: RagPipelineOptions, catalog: Catalog) -> IndexSpec:
    """The :class:`~gputwin.perf.vector_index.IndexSpec` of the pipeline (raises InputError)."""
    ix = p.index
    dim = ix.dim or catalog.encoder(p.embedder.model).embedding_dim
    if dim is None:
        raise InputError("the embedder has no embedding_dim; give one", where="index.dim")
    return IndexSpec(kind=ix.type, num_vectors=ix.corpus, dim=dim, vector_dtype=ix.vector_dtype,
                     m=ix.m, ef_search=ix.ef_search, nlist=ix.nlist, nprobe=ix.nprobe,
                     pq_bytes=ix.pq_bytes, refine=ix.refine, shards=ix.shards,
                     selectivity=ix.filter_selectivity)
