"""Mutable state of one request inside the serving simulation (slots, plain numbers).

Token accounting follows vLLM: ``num_tokens`` = prompt + generated so far; ``computed`` =
tokens whose KV is in the cache. A step schedules ``num_tokens − computed`` tokens (a
prefill chunk, or 1 for decode); when ``computed`` reaches ``num_tokens`` a token is
sampled. While a request is *decoding* on a replica its counters are implicit (the
replica's step index advances them all at once, see :mod:`gputwin.serving.engine`).

Prefix keys: engine block ``j`` (tokens ``[j·bs, (j+1)·bs)``) of a prompt with chained
prefix ids of ``H`` tokens each gets key ``id · H + offset`` where ``id`` is the prefix id
of the ``H``-block holding the block's last token and ``offset`` that token's position in
it. Chained ids identify the whole prefix, so equal keys mean equal KV.
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.workload.llm_request import LlmRequest

WAITING, PREFILL, DECODE, FINISHED, DROPPED = 0, 1, 2, 3, 4
#: "No cached blocks held": a request costs no list of its own until it holds some.
NO_KEYS: tuple[int, ...] = ()


@dataclass(slots=True, eq=False)
class ReqState:
    spec: LlmRequest
    output: int  # target output tokens (may be capped by max_model_len)
    num_tokens: int = 0
    computed: int = 0
    generated: int = 0
    blocks: int = 0  # blocks held while not decoding
    local: int = 0  # blocks of its window held in local-attention layers (hybrid pool)
    keyed: list[int] | tuple[int, ...] = NO_KEYS  # cached block keys held (refcounted)
    keys: list[int] | None = None  # prefix keys of the prompt's full blocks (lazy)
    status: int = WAITING
    # implicit decode state: x = dec_x0 + (S - dec_s0) tokens in KV at step S
    dec_x0: int = 0
    dec_s0: int = 0
    dec_g0: int = 0
    phase: int = 0
    finish_step: int = -1
    version: int = 0  # invalidates stale finish-heap entries after preemption
    swapped_blocks: int = 0  # blocks to swap back in (swap preemption)
    seq: int = 0  # admission order (victim choice under priority scheduling)
    # metrics
    engine_arrival_s: float = 0.0
    first_token_s: float | None = None
    last_token_s: float = 0.0  # when its latest token was emitted (a resumed token's gap)
    finish_s: float | None = None
    num_preemptions: int = 0
    cached_tokens: int = 0
    replica: int = -1
    prefill_replica: int = -1
    truncated: bool = False
    reason: str = ""
    retries: int = 0  # times a replica fault sent it back to the router

    @property
    def rid(self) -> int:
        return self.spec.request_id


def generated_at(req: ReqState, step: int) -> int:
    """Tokens a decoding ``req`` has generated once step ``step - 1`` has run (its decode
    state is implicit: one token per step since it started decoding)."""
    return req.dec_g0 + (step - req.dec_s0)


def reset_for_retry(req: ReqState) -> None:
    """Start ``req`` again from its prompt (a replica fault lost its KV and its generated
    tokens; the client's stream broke, so TTFT and end-to-end count from the original
    arrival to the attempt that succeeds)."""
    req.num_tokens = req.computed = req.generated = req.blocks = req.local = 0
    req.keyed, req.keys = NO_KEYS, None
    req.status = WAITING
    req.dec_x0 = req.dec_s0 = req.dec_g0 = req.phase = 0
    req.finish_step = -1
    req.version += 1
    req.swapped_blocks = 0
    req.first_token_s = req.finish_s = None
    req.cached_tokens = 0
    req.replica = req.prefill_replica = -1
    req.retries += 1

def prefix_keys(spec: LlmRequest, block_size: int, num_tokens: int) -> list[int]:
    """Keys of the full engine blocks of ``spec``'s prompt covered by its prefix ids."""
    hashes = spec.prefix_hashes
    if not hashes:
        return []
    h = spec.hash_block_tokens
    covered = min(num_tokens, spec.num_prompt_tokens, len(hashes) * h)
    n = covered // block_size
    out = []
    for j in range(n):
        last = (j + 1) * block_size - 1
        out.append(hashes[last // h] * h + last % h)
    return out


def fit_to_engine(req: ReqState, max_model_len: int, num_kv_blocks: int, block_size: int,
                  *, prefill_only: bool = False, max_prompt_tokens: int | None = None,
                  local_weight: int = 0, local_peak: int = 0) -> str:
    """Prepare ``req`` for an engine: why it must be dropped (a prompt longer than
    ``max_model_len`` or than one step holds without chunked prefill,
    ``max_prompt_tokens``; or more KV blocks than the replica has), else ``""``. An
    output that would exceed ``max_model_len`` is truncated. A KV hand-off
    (``computed > 0``) keeps its counters. In a hybrid pool a sequence also holds
    ``local_weight`` blocks per block of local-attention KV, at most ``local_peak`` of
    them (its window and a prefill chunk)."""
    prompt = req.spec.num_prompt_tokens
    if req.computed == 0:  # a new request (not a KV hand-off)
        if prompt + 1 > max_model_len:
            return f"prompt of {prompt} tokens exceeds max_model_len {max_model_len}"
        if max_prompt_tokens is not None and prompt > max_prompt_tokens:
            return (f"prompt of {prompt} tokens exceeds the step's token budget "
                    f"{max_prompt_tokens} (no chunked prefill)")
        if prompt + req.output > max_model_len:
            req.output = max_model_len - prompt
            req.truncated = True
        req.num_tokens = prompt + req.generated
    need = -(-(prompt + (1 if prefill_only else req.output)) // block_size)
    if local_weight:
        need += local_weight * min(need, local_peak)
    if need > num_kv_blocks:
        return f"needs {need} KV blocks for prompt + output, the replica has {num_kv_blocks}"
    return ""
