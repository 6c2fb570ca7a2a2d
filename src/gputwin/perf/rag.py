"""The LLM end of a RAG request: a prompt whose retrieved chunks may already be cached.

``prefill_s(perf, prompt, cached)``: time to the first token of one prompt alone on an
idle replica when its first ``cached`` tokens hit the prefix cache (vLLM/SGLang automatic
prefix caching: only the rest is computed, attending to the cached part). The prompt is
prefilled in chunks of ``max_num_batched_tokens`` (chunked prefill), each chunk one engine
step of :meth:`~gputwin.perf.serving.ServingPerf.step_time_s`.

``decode_s(perf, context)``: one decode step of that request alone (its TPOT).
"""

from __future__ import annotations

from gputwin.errors import InputError
from gputwin.perf.serving import ServingPerf


def prefill_s(perf: ServingPerf, prompt_tokens: int, cached_tokens: int = 0) -> float:
    """Seconds from admission to the first token (see the module docstring)."""
    if prompt_tokens < 1 or not 0 <= cached_tokens <= prompt_tokens:
        raise InputError(f"need 0 <= cached ({cached_tokens}) <= prompt ({prompt_tokens})")
    done = min(cached_tokens, prompt_tokens - 1)  # the last token is always computed
    budget = perf.config.max_num_batched_tokens
    total = 0.0
    while done < prompt_tokens:
        new = min(budget, prompt_tokens - done)
        total += perf.step_time_s(new, float(done), new * (done + new / 2.0), 0, 0.0)
        done += new
    return total


def decode_s(perf: ServingPerf, context_tokens: int) -> float:
    """Seconds of one decode step of a single sequence at ``context_tokens``."""
    return perf.step_time_s(0, 0.0, 0.0, 1, float(max(1, context_tokens)))
