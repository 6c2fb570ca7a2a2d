"""Vector indexes of a RAG pipeline: memory per vector, query time and recall.

Kinds (FAISS / cuVS names): ``flat`` (exact scan, CPU), ``hnsw`` (graph, CPU), ``ivf_flat``,
``ivf_pq`` (inverted lists of full vectors / PQ codes, CPU), ``gpu_flat``, ``cagra`` (GPU
graph), ``gpu_ivf_pq``. Search parameters: ``ef_search`` (HNSW efSearch, CAGRA itopk),
``m`` (HNSW M; CAGRA graph degree = 2·m), ``nlist``/``nprobe`` (IVF), ``pq_bytes`` (PQ code
bytes per vector, 8-bit sub-quantisers), ``refine`` (re-rank ``refine``·k candidates with
the full vectors).

Query time of one shard holding ``n`` vectors of ``d`` dims at ``b`` bytes per dim
(constants ``perf/rag.yaml``):

- graph (CPU): distances ``D = max(ef,k)·m + 2·m·ln n / ln m`` (base layer + greedy
  upper layers), each a random visit plus a distance: ``D·(visit_s + d·b / dist_rate)``;
- IVF: the coarse quantiser ``nlist·d·4 / dist_rate`` plus the probed lists
  ``(nprobe/nlist)·n`` vectors scanned at ``scan_rate`` (Flat) or PQ-coded
  (``pq_bytes`` look-ups each, plus ``nprobe·256·d`` look-up-table entries);
- GPU: a launch plus ``ef`` CAGRA iterations (latency-bound at small batches) plus the
  gathered bytes of the batch at ``bandwidth_frac`` of HBM bandwidth.

Sharding: ``shards`` hold ``n/shards`` each, searched in parallel; a query pays the
shard's time plus one RPC. Filtered search at ``selectivity`` s < 1: the traversal must
see 1/s more candidates (``ef/s``, ``nprobe/s``), unless scanning the s·n matching
vectors exactly is faster (the pre-filter plan vector databases switch to).

Recall (1-recall@1, as ann-benchmarks and FAISS report): graph ``1 − a·ef^−γ·(m/32)^−μ·
(n/10⁶)^ν``; IVF ``1 − b·(nprobe·1024/nlist)^−β``; PQ multiplies by
``exp(−c·(d/pq_bytes − 0.9))``-style quantisation loss, reduced by refinement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gputwin.catalog.schema import Accelerator
from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf.embedding import rag_constants

CPU_KINDS = ("flat", "hnsw", "ivf_flat", "ivf_pq")
GPU_KINDS = ("gpu_flat", "cagra", "gpu_ivf_pq")
INDEX_KINDS = CPU_KINDS + GPU_KINDS
BYTES_PER_DIM = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0}
_ID_BYTES = 8.0  # int64 ids of inverted lists


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """An index over ``num_vectors`` vectors (see the module docstring)."""

    kind: str
    num_vectors: int
    dim: int
    vector_dtype: str = "fp32"
    m: int = 32
    ef_search: int = 64
    nlist: int | None = None  # None: 4·sqrt(vectors per shard)
    nprobe: int = 16
    pq_bytes: int = 64
    refine: int = 1
    shards: int = 1
    selectivity: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise InputError(f"unknown index type {self.kind!r}; expected one of "
                             f"{', '.join(INDEX_KINDS)}", where="index.type")
        if self.vector_dtype not in BYTES_PER_DIM:
            raise InputError(f"vector dtype must be one of {', '.join(BYTES_PER_DIM)}",
                             where="index.vector_dtype")
        for name in ("num_vectors", "dim", "m", "ef_search", "nprobe", "pq_bytes", "refine",
                     "shards"):
            if getattr(self, name) < 1:
                raise InputError(f"must be >= 1, got {getattr(self, name)}", where=f"index.{name}")
        if self.m < 2:
            raise InputError("must be >= 2", where="index.m")
        if self.nlist is not None and not 1 <= self.nlist <= self.shard_vectors:
            raise InputError(f"must be in 1..{self.shard_vectors} (vectors per shard)",
                             where="index.nlist")
        if not 0 < self.selectivity <= 1:
            raise InputError(f"must be in (0, 1], got {self.selectivity}",
                             where="index.filter_selectivity")
        if self.kind in ("ivf_pq", "gpu_ivf_pq") and self.pq_bytes > self.dim:
            raise InputError(f"PQ code bytes ({self.pq_bytes}) must be <= dim ({self.dim})",
                             where="index.pq_bytes")
        if self.shards > self.num_vectors:
            raise InputError("more shards than vectors", where="index.shards")

    @property
    def is_gpu(self) -> bool:
        return self.kind in GPU_KINDS

    @property
    def shard_vectors(self) -> int:
        return -(-self.num_vectors // self.shards)

    @property
    def lists(self) -> int:
        """IVF lists per shard (the given ``nlist``, else 4·sqrt(vectors per shard))."""
        if self.nlist is not None:
            return self.nlist
        return max(1, min(self.shard_vectors, int(4 * math.sqrt(self.shard_vectors))))

    @property
    def bytes_per_dim(self) -> float:
        return BYTES_PER_DIM[self.vector_dtype]


def bytes_per_vector(spec: IndexSpec) -> float:
    """Index bytes per stored vector (vectors, codes, graph links, ids)."""
    vec = spec.dim * spec.bytes_per_dim
    m = spec.m
    if spec.kind in ("flat", "gpu_flat"):
        return vec
    if spec.kind == "hnsw":  # 2M base-layer links + M per upper level (1/(M-1) expected)
        return vec + 4.0 * (2 * m + m / (m - 1)) + 12.0  # + offset and level
    if spec.kind == "cagra":
        return vec + 4.0 * 2 * m
    if spec.kind == "ivf_flat":
        return vec + _ID_BYTES
    refine = vec if spec.refine > 1 else 0.0  # ivf_pq / gpu_ivf_pq keep full vectors to refine
    return spec.pq_bytes + _ID_BYTES + refine


def index_memory_bytes(spec: IndexSpec) -> float:
    """Bytes of the whole index (all shards): per-vector bytes plus centroids/codebooks."""
    fixed = 0.0
    if spec.kind in ("ivf_flat", "ivf_pq", "gpu_ivf_pq"):
        fixed += spec.lists * spec.dim * 4.0
    if spec.kind in ("ivf_pq", "gpu_ivf_pq"):
        fixed += 256 * spec.dim * 4.0
    return spec.num_vectors * bytes_per_vector(spec) + spec.shards * fixed


def recall(spec: IndexSpec, top_k: int) -> float:
    """Expected 1-recall@1 of the search parameters (see the module docstring)."""
    r = rag_constants().recall
    n = spec.shard_vectors
    if spec.kind in ("flat", "gpu_flat"):
        return 1.0
    if spec.kind in ("hnsw", "cagra"):
        ef = float(max(spec.ef_search, top_k))
        miss: float = (r.graph_miss_at_ef1 * ef ** -r.graph_ef_exponent
                * (spec.m / 32.0) ** -r.graph_m_exponent * (n / 1e6) ** r.corpus_exponent)
        return max(0.0, 1.0 - miss)
    probed = min(spec.nprobe, spec.lists) * r.ivf_reference_nlist / spec.lists
    ivf_miss: float = r.ivf_miss_at_nprobe1 * probed ** -r.ivf_nprobe_exponent
    ivf = 1.0 if spec.nprobe >= spec.lists else max(0.0, 1.0 - ivf_miss)
    if spec.kind == "ivf_flat":
        return ivf
    dims_per_byte = spec.dim / spec.pq_bytes
    kept = 1.0 / (1.0 + r.pq_scale * max(0.0, dims_per_byte - 0.9) ** r.pq_exponent)
    pq_miss = 1.0 - kept
    pq_miss *= float(spec.refine) ** -r.pq_refine_exponent
    return float(ivf * (1.0 - pq_miss))


def _cpu_shard_s(spec: IndexSpec, top_k: int, n: int) -> float:
    c = rag_constants().cpu
    d, b = spec.dim, spec.bytes_per_dim
    if spec.kind == "flat":
        return n * d * b / c.scan_bytes_per_s
    if spec.kind == "hnsw":
        m = spec.m
        dist = max(spec.ef_search, top_k) * m + 2.0 * m * math.log(max(n, 2)) / math.log(m)
        return dist * (c.visit_s + d * b / c.distance_bytes_per_s)
    nlist = min(spec.lists, n)
    coarse = nlist * d * 4.0 / c.distance_bytes_per_s
    scanned = min(spec.nprobe, nlist) / nlist * n
    if spec.kind == "ivf_flat":
        return coarse + scanned * (d * b + _ID_BYTES) / c.scan_bytes_per_s
    tables = min(spec.nprobe, nlist) * 256 * d * 4.0 / c.distance_bytes_per_s
    refine = (top_k * spec.refine * (c.visit_s + d * b / c.distance_bytes_per_s)
              if spec.refine > 1 else 0.0)
    return coarse + tables + scanned * spec.pq_bytes * c.pq_lookup_s + refine


def _gpu_shard_s(spec: IndexSpec, top_k: int, n: int, batch: int, acc: Accelerator) -> float:
    g = rag_constants().gpu_index
    bw = acc.memory_bandwidth_bytes_per_s * g.bandwidth_frac
    d, b = spec.dim, spec.bytes_per_dim
    if spec.kind == "gpu_flat":
        peak = acc.peak_flop_per_s.get("fp16") or acc.peak_flop_per_s.get("bf16") or 1e12
        read = n * d * b / acc.memory_bandwidth_bytes_per_s
        return g.launch_s + max(read, batch * n * d * 2.0 / (0.5 * peak))
    if spec.kind == "cagra":
        iters = max(spec.ef_search, top_k)
        gathered = batch * iters * 2 * spec.m * (d * b + 4.0)
        return g.launch_s + iters * g.iteration_s + gathered / bw
    nlist = min(spec.lists, n)
    probe = min(spec.nprobe, nlist)
    per_query = probe / nlist * n * (spec.pq_bytes + 4.0) + nlist * d * 4.0 + probe * 256 * d * 2.0
    refine = top_k * spec.refine * d * b if spec.refine > 1 else 0.0
    return g.launch_s + probe * g.iteration_s + batch * (per_query + refine) / bw


def _shard_s(spec: IndexSpec, top_k: int, n: int, batch: int, acc: Accelerator | None) -> float:
    if spec.is_gpu:
        if acc is None:
            raise InputError(f"a {spec.kind} index needs a GPU", where="index.gpu")
        return _gpu_shard_s(spec, top_k, n, batch, acc)
    return batch * _cpu_shard_s(spec, top_k, n)


def search_time_s(spec: IndexSpec, top_k: int, *, batch: int = 1,
                  acc: Accelerator | None = None) -> float:
    """Seconds one replica (every shard in parallel) takes to answer ``batch`` queries of
    ``top_k`` results; CPU indexes run one query per thread (``batch`` queries in series).
    GPU kinds need ``acc``. Raises :class:`InputError`."""
    if top_k < 1 or batch < 1:
        raise InputError("top_k and batch must be >= 1", where="index.top_k")
    n = spec.shard_vectors
    s = spec.selectivity
    t = _shard_s(spec, top_k, n, batch, acc)
    if s < 1.0:
        wider = replace(spec, ef_search=math.ceil(spec.ef_search / s),
                        nprobe=min(spec.lists, math.ceil(spec.nprobe / s)), selectivity=1.0)
        traversal = _shard_s(wider, top_k, n, batch, acc)
        exact_kind = "gpu_flat" if spec.is_gpu else "flat"
        exact = _shard_s(replace(spec, kind=exact_kind, selectivity=1.0), top_k,
                         max(1, math.ceil(s * n)), batch, acc)
        t = min(traversal, exact)
    if spec.shards > 1:
        t += rag_constants().network.shard_rpc_s
    return t


#: Share of a GPU's memory an index shard may take (the rest: workspace, the runtime).
GPU_INDEX_MEMORY_FRAC = 0.9


def check_fits_gpu(spec: IndexSpec, acc: Accelerator) -> None:
    """Raise :class:`DoesNotFitError` when one shard of a GPU index does not fit in
    ``GPU_INDEX_MEMORY_FRAC`` of ``acc``'s memory (more shards, PQ or fp16 would)."""
    shard = index_memory_bytes(spec) / spec.shards
    room = GPU_INDEX_MEMORY_FRAC * acc.memory_bytes
    if spec.is_gpu and shard > room:
        need = -(-int(index_memory_bytes(spec)) // int(room))
        raise DoesNotFitError(f"a {spec.kind} shard needs {shard / 2**30:,.1f} GiB, {acc.name} "
                              f"holds {room / 2**30:,.1f} GiB: use >= {need} shards, PQ codes "
                              "or fp16 vectors", where="index.shards")


def bm25_time_s(num_documents: int, query_terms: int) -> float:
    """Seconds of one BM25 keyword query over ``num_documents`` (one thread)."""
    c = rag_constants().bm25
    return c.base_s + c.per_doc_term_s * num_documents * max(1, query_terms)
