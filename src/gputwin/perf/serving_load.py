"""Engine-step loads of simple request patterns (for estimates and calibration).

A :class:`StepLoad` is the five numbers :meth:`ServingPerf.step_time_s` takes. The helpers
turn "``batch`` requests of ``input`` prompt tokens arriving together" or "``batch``
sequences in steady-state continuous batching" into step loads, the way a vLLM-style
scheduler with chunked prefill would run them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gputwin.errors import InputError


@dataclass(frozen=True, slots=True)
class StepLoad:
    """Arguments of one engine step (see ``ServingPerf.step_time_s``)."""

    num_prefill_tokens: int = 0
    prefill_context_tokens_sum: float = 0.0
    prefill_attn_pairs: float = 0.0
    num_decode_seqs: int = 0
    decode_context_tokens_sum: float = 0.0


def bucketed_prompt_tokens(input_tokens: int, buckets: Sequence[int] | None) -> int:
    """Tokens a prompt of ``input_tokens`` is context-encoded at: the smallest compiled
    bucket that holds it (AWS NxD Inference / transformers-neuronx compile context encoding
    for fixed lengths and pad the prompt to the next one), ``input_tokens`` without buckets.

    Raises :class:`InputError` when the prompt is longer than every bucket."""
    if not buckets:
        return input_tokens
    fits = [b for b in buckets if b >= input_tokens]
    if not fits:
        raise InputError(f"--input-tokens {input_tokens} exceeds the largest context-encoding "
                         f"bucket ({max(buckets)})")
    return min(fits)


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
                      tokens_per_step: float = 1.0, prompts: int | None = None) -> StepLoad:
    """The average step of ``batch`` sequences in steady-state continuous batching, as a
    fluid: every step carries an equal share of the new prompts.

    Each sequence emits ``tokens_per_step`` tokens per step and lives ``output/that``
    steps (at least one), in which ``prompts`` new requests (default ``batch``) start;
    their prompts (``input`` tokens each) ride along as prefill chunks; decode contexts
    average ``input + output/2``.
    """
    n = batch if prompts is None else max(0, prompts)
    starts = n / _lifetime_steps(output_tokens, tokens_per_step)
    prefill = max(0, round(starts * input_tokens))
    pairs = prefill * input_tokens / 2.0
    ctx = input_tokens + output_tokens / 2.0
    return StepLoad(prefill, 0.0, pairs, batch, batch * ctx)


def _lifetime_steps(output_tokens: int, tokens_per_step: float) -> float:
    """Steps a sequence decodes for (at least one)."""
    return max(1.0, output_tokens / tokens_per_step)


def steady_state_mix(batch: int, input_tokens: int, output_tokens: int,
                     tokens_per_step: float, chunk_tokens: int, prompts: int | None = None,
                     ) -> list[tuple[StepLoad, float]]:
    """Steady-state continuous batching as the steps an engine runs: (load, share of steps).

    Over one sequence lifetime (``output/tokens_per_step`` steps) ``prompts`` new prompts
    arrive (default ``batch``: every slot is refilled once; ``batch - 1`` for the steps one
    sequence decodes in, whose own prompt came before its first token), each taken in
    chunks of the room the decode tokens leave in ``chunk_tokens``. When the chunks
    outnumber the steps, every step carries prompt tokens (the fluid
    :func:`steady_state_load`, scaled to ``prompts``); when they do not (small batches,
    long outputs), a share of the steps carries one chunk of a prompt and the rest decode
    alone. The two differ where the step time is not linear in its tokens: a
    mixture-of-experts step of one decode token and a slice of a prompt reads nearly every
    expert, a pure decode step only those its tokens route to (a batch of one decodes
    alone between its prompts).
    """
    n = batch if prompts is None else max(0, prompts)
    lifetime_steps = _lifetime_steps(output_tokens, tokens_per_step)
    ctx_sum = batch * (input_tokens + output_tokens / 2.0)
    alone = StepLoad(0, 0.0, 0.0, batch, ctx_sum)
    if input_tokens <= 0 or n == 0:
        return [(alone, 1.0)]
    room = max(1.0, chunk_tokens - batch * tokens_per_step)
    chunks_per_prompt = max(1, math.ceil(input_tokens / room))
    prefill_steps = n * chunks_per_prompt
    if prefill_steps >= lifetime_steps:  # prompts in every step: the fluid average
        return [(steady_state_load(batch, input_tokens, output_tokens, tokens_per_step, n),
                 1.0)]
    share = prefill_steps / lifetime_steps
    chunk = input_tokens / chunks_per_prompt
    carrying = StepLoad(max(1, round(chunk)), 0.0, chunk * input_tokens / 2.0, batch, ctx_sum)
    return [(carrying, share), (alone, 1.0 - share)]
