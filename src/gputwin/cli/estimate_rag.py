"""``gputwin estimate rag``: one RAG request's stages (embed, retrieve, rerank, LLM)."""

from __future__ import annotations

from typing import Any

import click

from gputwin.cli.options import FINITE, emit_json, option_of

_INDEXES = ("flat", "hnsw", "ivf_flat", "ivf_pq", "gpu_flat", "cagra", "gpu_ivf_pq")
#: fields of the index model (perf/vector_index.IndexSpec) set by an option of another name
_INDEX_FIELDS = {"type": "index_kind", "num_vectors": "corpus", "gpu": "index_gpu"}


@click.command()
@click.option("--model", default="llama3.1-8b", show_default=True, help="The LLM (catalog).")
@click.option("--gpu", default="h100-sxm-80gb", show_default=True, help="The LLM's GPU.")
@click.option("--tp", type=int, default=1, show_default=True)
@click.option("--embedder", default="bge-large-en-v1.5", show_default=True,
              help="Embedding model (catalog encoders).")
@click.option("--embed-gpu", default=None, help="Embedder GPU (default: --gpu).")
@click.option("--corpus", type=FINITE, default=10e6, show_default=True,
              help="Vectors (chunks) in the index.")
@click.option("--dim", type=int, default=None, help="Vector size (default: the embedder's).")
@click.option("--index", "index_kind", type=click.Choice(_INDEXES), default="hnsw",
              show_default=True)
@click.option("--vector-dtype", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32",
              show_default=True)
@click.option("--m", "m", type=int, default=32, show_default=True,
              help="HNSW M / CAGRA graph degree / 2.")
@click.option("--ef-search", type=int, default=64, show_default=True,
              help="HNSW efSearch / CAGRA itopk.")
@click.option("--nlist", type=int, default=None, help="IVF lists (default 4*sqrt(n)).")
@click.option("--nprobe", type=int, default=16, show_default=True)
@click.option("--pq-bytes", type=int, default=64, show_default=True,
              help="PQ code bytes per vector.")
@click.option("--refine", type=int, default=1, show_default=True,
              help="Re-rank refine*k candidates with full vectors (PQ).")
@click.option("--shards", type=int, default=1, show_default=True)
@click.option("--filter-selectivity", type=FINITE, default=1.0, show_default=True,
              help="Share of the corpus a metadata filter keeps.")
@click.option("--index-gpu", default=None, help="GPU of a GPU index (default: embed GPU).")
@click.option("--hybrid", is_flag=True, help="BM25 keyword search in parallel.")
@click.option("--top-k", type=int, default=5, show_default=True, help="Chunks in the prompt.")
@click.option("--reranker", default=None, help="Cross-encoder (catalog encoders).")
@click.option("--candidates", type=int, default=None, help="Reranked passages (4*top-k).")
@click.option("--chunk-tokens", type=int, default=512, show_default=True)
@click.option("--query-tokens", type=int, default=64, show_default=True)
@click.option("--system-tokens", type=int, default=0, show_default=True)
@click.option("--output-tokens", type=int, default=256, show_default=True)
@click.option("--prefix-hit", "prefix_hit_frac", type=FINITE, default=0.0, show_default=True,
              help="Share of chunk tokens already in the prefix cache.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rag(as_json: bool, index_kind: str, corpus: float, **fields: Any) -> None:
    """Per-stage latency, recall and memory of one RAG request on idle services.

    \b
    Example:
      gputwin estimate rag --model llama3.1-8b --corpus 10e6 --index hnsw \\
        --ef-search 128 --reranker bge-reranker-v2-m3 --top-k 5 --json
    """
    from gputwin.errors import InputError
    from gputwin.requests import validated
    from gputwin.run.estimate_rag import RagRequest, estimate_rag

    if corpus != int(corpus) or corpus < 1:
        raise InputError(f"must be a whole number >= 1, got {corpus:g}", where="--corpus")
    data = {k: v for k, v in fields.items() if v is not None}
    data.update(index=index_kind, corpus=int(corpus))
    flag = option_of(click.get_current_context().command)
    req = validated(RagRequest, data, where=flag)
    try:
        out = estimate_rag(req).to_dict()
    except InputError as exc:  # a request field, or index.<field> -> the flag that sets it
        if exc.where and exc.where.startswith("index."):
            name = exc.where.removeprefix("index.")
            raise InputError(exc.detail, where=flag(_INDEX_FIELDS.get(name, name))) from None
        if exc.where in RagRequest.model_fields:
            raise InputError(exc.detail, where=flag(exc.where)) from None
        raise
    if as_json:
        emit_json({"request": req.model_dump(), **out})
        return
    _print(req, out)


def _print(req: Any, out: dict[str, Any]) -> None:
    ms = 1e3
    click.echo(f"RAG on {req.model} ({req.gpu}), {req.corpus:,} x {req.index} vectors, "
               f"top-{req.top_k} x {req.chunk_tokens} tokens")
    for key, label in (("embed_s", "embed query"), ("retrieve_s", "retrieve"),
                       ("rerank_s", "rerank"), ("llm_ttft_s", "LLM prefill"),
                       ("ttft_s", "time to first token"), ("e2e_s", "end to end")):
        click.echo(f"  {label:<20} {out[key] * ms:10.2f} ms")
    click.echo(f"  recall@1 {out['recall']:.3f}; retrieval {out['retrieval_share_of_ttft']:.0%}"
               f" of TTFT; TTFT {out['ttft_ratio']:.2f}x the LLM alone")
    gib = 2**30
    click.echo(f"  memory: index {out['index_bytes'] / gib:,.1f} GiB "
               f"({out['index_bytes_per_vector']:.0f} B/vector), embedder "
               f"{out['embedder_bytes'] / gib:.2f} GiB, reranker {out['reranker_bytes'] / gib:.2f}"
               f" GiB, LLM weights {out['llm_weights_bytes_per_gpu'] / gib:.1f} GiB/GPU")
