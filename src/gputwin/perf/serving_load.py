"""Engine-step loads of simple request patterns (for estimates and calibration).

A :class:`StepLoad` is the five numbers :meth:`ServingPerf.step_time_s` takes. The helpers
turn "``batch`` requests of ``input`` prompt tokens arriving together" or "``batch``
sequences in steady-state continuous batching" into step loads, the way a vLLM-style
scheduler with chunked prefill would run them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepLoad:
    """Arguments of one engine step (see ``ServingPerf.step_time_s``)."""

    num_prefill_tokens: int = 0
    prefill_context_tokens_sum: float = 0.0
    prefill_attn_pairs: float = 0.0
    num_decode_seqs: int = 0
    decode_context_tokens_sum: float = 0.0


def prefill_batch_loads(batch: int, input_tokens: int, chunk_tokens: int,
                        ) -> tuple[list[StepLoad], list[int]]:
    """Steps that prefill ``batch`` prompts of ``input_tokens`` (FCFS chunked prefill).

    Returns the step loads and, for each request, the index of the step that finishes its
    prompt (its first token is sampled there). Steps hold at most ``chunk_tokens`` tokens.
    """
    loads: list[StepLoad] = []
    done_at: list[int] = []
    seq, done = 0, 0  # current request and its prefilled tokens
    while seq < batch:
        budget = chunk_tokens
        tokens = 0
        ctx = pairs = 0.0
        while budget > 0 and seq < batch:
            new = min(budget, input_tokens - done)
            tokens += new
            ctx += done
            pairs += new * (done + new / 2.0)
            done += new
            budget -= new
            if done >= input_tokens:
                done_at.append(len(loads))
                seq, done = seq + 1, 0
        loads.append(StepLoad(tokens, ctx, pairs, 0, 0.0))
    return loads, done_at


def decode_load(batch: int, context_tokens: float) -> StepLoad:
    """A pure decode step of ``batch`` sequences with ``context_tokens`` each on average."""
    return StepLoad(0, 0.0, 0.0, batch, batch * context_tokens)


def steady_state_load(batch: int, input_tokens: int, output_tokens: int,
                      tokens_per_step: float = 1.0) -> StepLoad:
    """The average step of ``batch`` sequences in steady-state continuous batching.

    Each sequence emits ``tokens_per_step`` tokens per step and lives ``output/that``
    steps, so ``batch·tokens_per_step/output`` new requests start per step and their
    prompts (``input`` tokens each) ride along as prefill chunks; decode contexts average
    ``input + output/2``.
    """
    starts = batch * tokens_per_step / output_tokens
    prefill = max(0, round(starts * input_tokens))
    pairs = prefill * input_tokens / 2.0
    ctx = input_tokens + output_tokens / 2.0
    return StepLoad(prefill, 0.0, pairs, batch, batch * ctx)
