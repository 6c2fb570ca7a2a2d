"""LLM request traces by format name: one reader dispatch and what a trace holds.

:func:`read_llm_trace` reads a trace of one of :data:`LLM_TRACE_FORMATS` (Azure LLM
inference 2023, Mooncake FAST'25, BurstGPT) into :class:`LlmRequest`\\ s, counting the rows
its reader skips by reason; a trace that keeps no request is an :class:`InputError`.
:func:`llm_trace_stats` summarises requests: how many, over how long, at what rate, the
prompt and output lengths, and the share of prompt tokens a prefix cache could reuse.
The readers (numpy, pyarrow) are imported only when a trace is read, so the CLI can offer
:data:`LLM_TRACE_FORMATS` without loading them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from gputwin.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from gputwin.workload.llm_request import LlmRequest

#: the formats :func:`read_llm_trace` reads (the scenario schema and the CLI offer these)
LlmTraceFormat = Literal["azure", "mooncake", "burstgpt"]
LLM_TRACE_FORMATS: tuple[str, ...] = get_args(LlmTraceFormat)


def read_llm_trace(fmt: str, path: Path | str, *, max_requests: int | None = None,
                   speedup: float = 1.0, service: str = "default",
                   use_prefix_hashes: bool = True, model: str | None = None,
                   log_type: str | None = None,
                   skipped: dict[str, int] | None = None) -> list[LlmRequest]:
    """The requests of the ``fmt`` trace at ``path`` (ids 0, 1, ... by arrival).

    ``use_prefix_hashes`` keeps Mooncake's prefix-block ids; ``model`` and ``log_type``
    filter BurstGPT rows; the rows skipped are added to ``skipped`` by reason. Raises
    :class:`InputError` for an unknown format, a malformed row or a trace of no request."""
    path = Path(path)
    mine: dict[str, int] = {}
    if fmt == "azure":
        from gputwin.workload.llm_azure import read_azure_llm_csv

        reqs = read_azure_llm_csv(path, max_requests=max_requests, speedup=speedup,
                                  service=service, skipped=mine)
    elif fmt == "mooncake":
        from gputwin.workload.llm_mooncake import read_mooncake_jsonl

        reqs = read_mooncake_jsonl(path, max_requests=max_requests, speedup=speedup,
                                   service=service, use_hash_ids=use_prefix_hashes)
    elif fmt == "burstgpt":
        from gputwin.workload.llm_burstgpt import read_burstgpt_csv

        reqs = read_burstgpt_csv(path, max_requests=max_requests, speedup=speedup,
                                 service=service, model=model, log_type=log_type,
                                 skipped=mine)
    else:
        raise InputError(f"unknown LLM trace format {fmt!r}; known: "
                         + ", ".join(LLM_TRACE_FORMATS))
    if not reqs:  # a run of no request would look like a successful one
        why = ", ".join(f"{n:,} with {reason}" for reason, n in mine.items())
        raise InputError(f"the {fmt} trace holds no request"
                         + (f" (rows skipped: {why})" if why else ""), where=str(path))
    if skipped is not None:
        for reason, n in mine.items():
            skipped[reason] = skipped.get(reason, 0) + n
    return reqs


def _lengths(values: np.ndarray) -> dict[str, float]:
    """Mean, median, p90, p99 and max of token counts."""
    import numpy as np

    return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)), "p99": float(np.percentile(values, 99)),
            "max": float(values.max())}


def prefix_reuse_frac(requests: list[LlmRequest]) -> float | None:
    """Share of prompt tokens in blocks whose prefix id an earlier request already sent
    (what an unbounded prefix cache could skip); ``None`` without prefix ids. ``requests``
    are in arrival order; a block is its request's ``hash_block_tokens`` (the last one
    what is left of the prompt)."""
    import itertools

    import numpy as np

    counts = np.fromiter((len(r.prefix_hashes) for r in requests), np.int64, len(requests))
    if not counts.any():
        return None
    ids = np.fromiter(itertools.chain.from_iterable(r.prefix_hashes for r in requests),
                      np.int64, int(counts.sum()))
    owner = np.repeat(np.arange(len(requests)), counts)
    position = np.arange(len(ids)) - np.repeat(np.cumsum(counts) - counts, counts)
    block = np.fromiter((r.hash_block_tokens for r in requests), np.int64, len(requests))
    prompt = np.fromiter((r.num_prompt_tokens for r in requests), np.int64, len(requests))
    tokens = np.clip(prompt[owner] - position * block[owner], 0, block[owner])
    first = np.zeros(len(ids), dtype=bool)
    first[np.unique(ids, return_index=True)[1]] = True  # each id's first sending
    total = int(prompt.sum())
    return float(tokens[~first].sum()) / total if total else 0.0


def llm_trace_stats(requests: list[LlmRequest]) -> dict[str, Any]:
    """Requests, span, mean and peak-minute arrival rate, prompt and output lengths and
    prefix reuse of a non-empty list of requests (JSON-ready)."""
    import numpy as np

    t = np.fromiter((r.arrival_time_s for r in requests), float, len(requests))
    prompt = np.fromiter((r.num_prompt_tokens for r in requests), float, len(requests))
    output = np.fromiter((r.num_output_tokens for r in requests), float, len(requests))
    span = float(t.max() - t.min())
    # requests per minute bin (counted per bin used: a sparse trace spans many empty ones)
    _, minutes = np.unique((t - t.min()) // 60.0, return_counts=True)
    return {
        "num_requests": len(requests),
        "span_s": span,
        "rate_per_s": len(requests) / span if span > 0 else None,
        "peak_minute_rate_per_s": float(minutes.max()) / 60.0 if span >= 60.0 else None,
        "prompt_tokens": _lengths(prompt),
        "output_tokens": _lengths(output),
        "total_prompt_tokens": int(prompt.sum()),
        "total_output_tokens": int(output.sum()),
        "prefix_reuse_frac": prefix_reuse_frac(requests),
    }
