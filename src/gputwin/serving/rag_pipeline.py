"""The retrieval services in front of a RAG LLM, simulated under load.

A RAG request passes, in order, through an embedding service (GPU replicas with dynamic
batching), a vector index service (CPU threads, or GPU replicas with batching; with
``hybrid``, a BM25 service runs in parallel from the arrival and retrieval waits for
both), an optional cross-encoder reranker (GPU replicas with batching), and then the LLM.
The front stages depend only on arrivals, never on the LLM, so they are simulated exactly
before the LLM fleet runs: each stage is a FCFS multi-server queue with greedy dynamic
batching (a server that frees up takes every request already waiting, up to
``max_batch``; a batch takes ``batch_time_s(size, longest tokens)``). The time a request
spends in front of the LLM becomes its ``pre_delay_s``; the per-stage sojourn times
(queueing included) are returned for the report. The LLM side (prefix caching of the
retrieved chunks included) is the ordinary serving engine.

Costs nothing when a scenario has no pipeline: nothing here is imported or run.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gputwin.errors import InputError

BatchTime = Callable[[int, int], float]  # (requests in the batch, longest tokens) -> seconds


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One service: ``servers`` identical servers (replicas x concurrency), each serving a
    batch of up to ``max_batch`` requests at a time."""

    name: str
    servers: int
    max_batch: int
    batch_time_s: BatchTime

    def __post_init__(self) -> None:
        if self.servers < 1 or self.max_batch < 1:
            raise InputError(f"{self.name}: servers and max_batch must be >= 1")


def run_stage(ready_s: np.ndarray, tokens: np.ndarray, stage: StageSpec) -> np.ndarray:
    """Completion time of each request at ``stage`` given when it became ready there.

    FCFS by ready time (ties by index); deterministic. ``tokens[i]`` is request ``i``'s
    sequence length at this stage (a batch costs its longest)."""
    n = len(ready_s)
    done = np.empty(n, dtype=np.float64)
    if n == 0:
        return done
    order = np.argsort(ready_s, kind="stable")
    ready = ready_s[order]
    toks = tokens[order]
    free = [0.0] * stage.servers
    heapq.heapify(free)
    cap, cost = stage.max_batch, stage.batch_time_s
    i = 0
    while i < n:
        start = max(heapq.heappop(free), float(ready[i]))
        j = min(n, i + cap)
        if cap > 1:  # the requests already waiting when the batch starts
            j = i + int(np.searchsorted(ready[i:j], start, side="right"))
        end = start + cost(j - i, int(toks[i:j].max()))
        done[order[i:j]] = end
        heapq.heappush(free, end)
        i = j
    return done


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Seconds each request spent in each front stage (queueing included); ``rerank_s``
    is zero without a reranker. ``front_s`` = the LLM request's ``pre_delay_s``."""

    embed_s: np.ndarray
    retrieve_s: np.ndarray
    rerank_s: np.ndarray
    front_s: np.ndarray


@dataclass(frozen=True, slots=True)
class RagPipeline:
    """The front stages of one RAG workload (see the module docstring)."""

    embed: StageSpec
    retrieve: StageSpec
    bm25: StageSpec | None = None
    rerank: StageSpec | None = None
    rerank_extra_tokens: int = 0  # tokens of a passage added to the query (reranker pairs)

    def run(self, arrival_s: np.ndarray, query_tokens: np.ndarray) -> StageTimes:
        """Per-stage times of requests arriving at ``arrival_s`` with those query lengths."""
        embedded = run_stage(arrival_s, query_tokens, self.embed)
        retrieved = run_stage(embedded, query_tokens, self.retrieve)
        if self.bm25 is not None:
            retrieved = np.maximum(retrieved, run_stage(arrival_s, query_tokens, self.bm25))
        done = retrieved
        if self.rerank is not None:
            done = run_stage(retrieved, query_tokens + self.rerank_extra_tokens, self.rerank)
        return StageTimes(embed_s=embedded - arrival_s, retrieve_s=retrieved - embedded,
                          rerank_s=done - retrieved, front_s=done - arrival_s)
