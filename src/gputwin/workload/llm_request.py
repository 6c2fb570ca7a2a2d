"""What an LLM inference request asks for: :class:`LlmRequest` (hot-path data, slots).

``prefix_hashes`` are ids of consecutive prompt blocks of ``hash_block_tokens`` tokens
each, *chained*: equal ids at position ``i`` mean the whole prompt prefix up to the end of
block ``i`` is identical (Mooncake's ``hash_ids`` are of this kind, 512-token blocks). An
empty tuple means the prompt shares nothing with any other request. The serving engine
maps these ids onto its own (smaller) KV blocks for prefix caching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gputwin.errors import InputError

#: Mooncake's prefix-hash block size (tokens per ``hash_ids`` entry).
MOONCAKE_HASH_BLOCK_TOKENS = 512


@dataclass(slots=True)
class LlmRequest:
    """One request. ``arrival_time_s`` is simulated seconds from the start of the run.

    Treat as read-only (not frozen only because a frozen dataclass is ~3.5x slower to
    construct, which matters for millions of requests; use ``dataclasses.replace``).

    ``pre_delay_s`` is spent before the request reaches an engine (e.g. RAG embedding and
    vector search); TTFT is still measured from ``arrival_time_s``. A closed-loop request
    (``closed_loop`` >= 0) gets its ``arrival_time_s`` when its client sends it.
    ``session_id`` groups the turns of a conversation (for session-affinity routing);
    ``priority``: lower value is served first under priority scheduling (vLLM's
    convention). A ``warmup`` request is served like any other but left out of the
    summary metrics (``run/serving_summary.py``).
    """

    request_id: int
    arrival_time_s: float
    num_prompt_tokens: int
    num_output_tokens: int
    prefix_hashes: tuple[int, ...] = ()
    hash_block_tokens: int = MOONCAKE_HASH_BLOCK_TOKENS
    session_id: int | None = None
    priority: int = 0
    service: str = "default"
    pre_delay_s: float = 0.0
    #: the closed-loop client group that sends it (``-1``: open loop, sent at
    #: ``arrival_time_s``); a group's clients send their next request when one completes
    closed_loop: int = -1
    #: sent to load the server but left out of the run's metrics (a benchmark client's
    #: warm-up requests, e.g. AIPerf ``--warmup-request-count``)
    warmup: bool = False

    @property
    def num_total_tokens(self) -> int:
        return self.num_prompt_tokens + self.num_output_tokens


def check_lengths(prompt: int, output: int, where: str) -> None:
    """Raise :class:`InputError` unless prompt >= 1 and output >= 1 tokens."""
    if prompt < 1:
        raise InputError(f"prompt length must be >= 1 token, got {prompt}", where=where)
    if output < 1:
        raise InputError(f"output length must be >= 1 token, got {output}", where=where)


def renumber(requests: Sequence[LlmRequest], *, start_id: int = 0) -> list[LlmRequest]:
    """Requests sorted by arrival (stable), with ids ``start_id, start_id + 1, ...``."""
    from dataclasses import replace

    ordered = sorted(requests, key=lambda r: r.arrival_time_s)
    return [replace(r, request_id=start_id + i) for i, r in enumerate(ordered)]


def merge_streams(streams: Sequence[Sequence[LlmRequest]]) -> list[LlmRequest]:
    """Merge several request lists by arrival time and renumber them (0, 1, ...)."""
    merged: list[LlmRequest] = [r for s in streams for r in s]
    return renumber(merged)
