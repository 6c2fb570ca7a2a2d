"""A RAG request generator: retrieved corpus chunks shared as prompt prefixes.

Each request's prompt is ``system prompt + k retrieved chunks + a unique query``. Chunks
are drawn from a corpus of ``num_chunks`` with Zipf-like popularity (weight ∝ 1/rank^s),
without replacement, and placed in popularity order (a cache-friendly ordering, as
prefix-cache-aware RAG systems such as RAGCache arrange them). Every ``chunk_tokens``
block gets a *chained* prefix id, so two requests share KV blocks exactly as far as
their chunk sequences agree. Embedding the query and the vector search take a fixed
``retrieval_s`` before the request reaches an engine (``LlmRequest.pre_delay_s``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gputwin.errors import InputError
from gputwin.sim.rng import RandomStreams
from gputwin.workload.llm_request import LlmRequest
from gputwin.workload.llm_synthetic import ArrivalProcess, LengthDist, arrival_times

_QUERY = LengthDist("uniform", low=16, high=128)
_OUTPUT = LengthDist("lognormal", low=16, high=2048, mean=250, median=180)


@dataclass(frozen=True, slots=True)
class RagSpec:
    """Shape of a RAG workload (token counts are integers > 0 except ``system_tokens``)."""

    num_chunks: int = 1000
    chunks_per_request: int = 4
    chunk_tokens: int = 512
    system_tokens: int = 512  # rounded up to whole chunk_tokens blocks
    zipf_s: float = 1.1
    query: LengthDist = _QUERY
    output: LengthDist = _OUTPUT
    retrieval_s: float = 0.03  # embedding + vector search (assumption)

    def __post_init__(self) -> None:
        if self.num_chunks < 1 or self.chunk_tokens < 1 or self.system_tokens < 0:
            raise InputError("RAG: num_chunks and chunk_tokens must be >= 1, system_tokens >= 0")
        if not 1 <= self.chunks_per_request <= self.num_chunks:
            raise InputError(f"RAG: chunks_per_request must be in 1..{self.num_chunks}, got "
                             f"{self.chunks_per_request}")
        if self.retrieval_s < 0 or self.zipf_s < 0:
            raise InputError("RAG: retrieval_s and zipf_s must be >= 0")


class _PrefixIds:
    """Chained ids: the id of a block is a function of (parent id, block content id)."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids: dict[tuple[int, int], int] = {}

    def child(self, parent: int, content: int) -> int:
        key = (parent, content)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._ids)
        return found


def _zipf_picks(rng: np.random.Generator, weights: np.ndarray, n: int, k: int) -> np.ndarray:
    """``n`` rows of ``k`` distinct chunk indices drawn without replacement with
    probability ∝ ``weights`` (successive sampling), each row sorted.

    Draws with replacement through the cumulative weights (O(k log N) a row) and redraws
    the rows that repeat a chunk, one draw at a time: discarding repeats gives the same
    distribution as successive sampling without replacement. When ``k`` is a large share
    of the corpus the exact O(N) draw is used instead."""
    num = len(weights)
    if 4 * k > num:
        return np.stack([np.sort(rng.choice(num, size=k, replace=False, p=weights))
                         for _ in range(n)]) if n else np.empty((0, k), np.int64)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    draws = np.minimum(np.searchsorted(cdf, rng.random((n, k)), side="right"), num - 1)
    picks = np.sort(draws, axis=1)
    dup: Any = np.nonzero((picks[:, 1:] == picks[:, :-1]).any(axis=1))[0] if k > 1 else []
    for row in dup:  # keep the first draws that are new, then draw on (skipping repeats)
        seen = dict.fromkeys(draws[row].tolist())
        while len(seen) < k:
            seen[min(int(np.searchsorted(cdf, rng.random(), side="right")), num - 1)] = None
        picks[row] = sorted(seen)
    return picks


def generate_rag_requests(
    n: int, arrivals: ArrivalProcess, spec: RagSpec, streams: RandomStreams, *,
    name: str = "rag", service: str = "default",
) -> list[LlmRequest]:
    """``n`` RAG requests, ids 0..n-1 by arrival. Raises :class:`InputError`."""
    times = arrival_times(arrivals, n, streams.stream(f"llm/{name}/arrivals"))
    rng = streams.stream(f"llm/{name}/chunks")
    queries = spec.query.draw(streams.stream(f"llm/{name}/query"), n)
    outputs = spec.output.draw(streams.stream(f"llm/{name}/output"), n)
    weights = 1.0 / np.arange(1, spec.num_chunks + 1) ** spec.zipf_s
    weights /= weights.sum()
    ids = _PrefixIds()
    bt = spec.chunk_tokens
    system_blocks = -(-spec.system_tokens // bt) if spec.system_tokens else 0
    out: list[LlmRequest] = []
    all_picks = _zipf_picks(rng, weights, n, spec.chunks_per_request)
    for i in range(n):
        picks = all_picks[i]
        chain: list[int] = []
        parent = -1
        for b in range(system_blocks):
            parent = ids.child(parent, -1 - b)  # system prompt blocks: negative contents
            chain.append(parent)
        for c in picks.tolist():
            parent = ids.child(parent, int(c))  # one chunk = one block of chunk_tokens
            chain.append(parent)
        prompt = system_blocks * bt + spec.chunks_per_request * bt + int(queries[i])
        out.append(LlmRequest(request_id=i, arrival_time_s=float(times[i]),
                              num_prompt_tokens=prompt, num_output_tokens=int(outputs[i]),
                              prefix_hashes=tuple(chain), hash_block_tokens=bt,
                              service=service, pre_delay_s=spec.retrieval_s))
    return out
