"""Admission: which waiting requests start a prompt chunk in the step being planned.

Waiting requests are admitted in queue order while the token budget
(``max_num_batched_tokens``), the sequence cap (``max_num_seqs``), free KV blocks (at
least ``prefill_min_free_kv_frac`` of them while requests run: AMD's MLPerf vLLM) and,
under no-evict admission, the reservation of whole sequences allow (:func:`admit`); a
cached prefix is reused. Under SGLang's admission the prompt and whole output of each
must also fit the KV room its running requests leave (:func:`kv_room_tokens`), or,
without the radix cache, the KV peak of running them all to the end (:func:`peak_fits`).
Under TensorRT-LLM's attention-DP balance each rank admits within its own share
(:func:`admit_by_rank`).
"""

from __future__ import annotations

from bisect import insort

from gputwin.serving.context_hold import ContextHold
from gputwin.serving.request import DECODE, PREFILL, ReqState, prefix_keys
from gputwin.serving.sched_state import Chunks, SchedulerState

# SGLang's admission estimate (python/sglang/global_config.py, v0.3-v0.5: init 0.7, floor
# 0.7 x 0.14, decay over 600 decode batches; schedule_policy.py CLIP_MAX_NEW_TOKENS 4096)
INIT_NEW_TOKEN_RATIO = 0.7
MIN_NEW_TOKEN_RATIO = 0.7 * 0.14
NEW_TOKEN_RATIO_DECAY_STEPS = 600
CLIP_MAX_NEW_TOKENS = 4096
IGNORE_EOS_RESERVE_TOKENS = 1  # schedule_policy.py: KV tokens kept free per sequence


def new_token_ratio(s: SchedulerState) -> float:
    """SGLang's new_token_ratio at step ``S``: 0.7 less one 600th of (0.7 − 0.098) per
    decode batch since its last reset, at least 0.098."""
    k = s.S - s.ratio_s0
    decay = (INIT_NEW_TOKEN_RATIO - MIN_NEW_TOKEN_RATIO) / NEW_TOKEN_RATIO_DECAY_STEPS
    return max(MIN_NEW_TOKEN_RATIO, INIT_NEW_TOKEN_RATIO - decay * k)


def kv_room_tokens(s: SchedulerState) -> float:
    """SGLang's ``rem_total_tokens`` (PrefillAdder): free KV tokens (evictable cache
    included) less ``new_token_ratio`` of each running request's outputs to come (at most
    4096 each)."""
    step = s.S
    left = 0
    for req in s.running.values():
        # generated_at inlined: a call per running request cost +6 % wall on SGLang runs
        done = req.dec_g0 + step - req.dec_s0 if req.status == DECODE else req.generated
        rest = min(req.output - done, CLIP_MAX_NEW_TOKENS)
        if rest > 0:
            left += rest
    return s.pool.num_free * s.bs - new_token_ratio(s) * left


def context_candidates(s: SchedulerState, budget: int) -> list[ReqState]:
    """The requests that would run a prompt chunk in step ``S`` within ``budget``
    (the running prefills, then the queue's head requests while tokens, sequences,
    free KV blocks and the no-evict reservation allow), without changing anything;
    prefix-cache hits and local-layer blocks are not counted."""
    out: list[ReqState] = []
    for req in s.prefilling.values():
        if budget <= 0:
            return out
        out.append(req)
        budget -= min(req.num_tokens - req.computed, budget)
    free, reserved, n = s.pool.num_free, s.reserved_blocks, len(s.running)
    for req in s.queue.in_order():
        if budget <= 0 or n >= s.max_seqs:
            break
        remaining = req.num_tokens - req.computed
        chunk = remaining if remaining < budget else budget
        if chunk < remaining and not s.cfg.enable_chunked_prefill:
            break
        more = -(-(req.computed + chunk) // s.bs)
        if more > free or (n and free < s.min_free_blocks):
            break
        if s.reserve:
            full = s.full_blocks(req)
            if n and reserved + full > s.pool.num_blocks:
                break
            reserved += full
        free -= more
        n += 1
        budget -= chunk
        out.append(req)
    return out


def running_outputs(s: SchedulerState) -> list[tuple[int, int]]:
    """(outputs to come, KV tokens held) of each running request, fewest to come first
    (SGLang's ``req_states`` of ``add_one_req_ignore_eos``)."""
    step = s.S
    out: list[tuple[int, int]] = []
    for req in s.running.values():
        done = req.dec_g0 + step - req.dec_s0 if req.status == DECODE else req.generated
        left = req.output - done
        if left > 0:
            out.append((left, req.spec.num_prompt_tokens + done))
    out.sort()
    return out


def peak_fits(states: list[tuple[int, int]], free_tokens: int, block_size: int) -> bool:
    """SGLang's ``add_one_req_ignore_eos`` check: running every request of ``states`` to
    its last output token, in the order they finish (each frees what it holds), never
    leaves fewer than one free token per sequence still running. SGLang's KV is
    token-granular (page size 1); here each sequence also keeps the part of a block it
    may leave unused (``block_size − 1`` tokens), so the check holds for whole blocks."""
    freed = 0
    n = len(states)
    reserve = IGNORE_EOS_RESERVE_TOKENS + block_size - 1
    for i, (left, held) in enumerate(states):
        seqs = n - i
        if free_tokens + freed - left * seqs <= reserve * seqs:
            return False
        freed += held
    return True


class SglangGate:
    """SGLang's admission over one prefill batch (``PrefillAdder``). Without the radix
    cache, requests that ignore EOS (``sglang.bench_serving``'s default) are admitted by
    their KV peak (:func:`peak_fits`), otherwise against the ``new_token_ratio`` room
    (:func:`kv_room_tokens`). Made when a replica with nothing running plans, SGLang's
    idle reset of the ratio happens here."""

    __slots__ = ("bs", "free_tokens", "peak", "room", "states")

    def __init__(self, s: SchedulerState) -> None:
        if not s.running:
            s.ratio_s0 = s.S  # SGLang resets new_token_ratio when idle
        self.bs = s.bs
        self.peak = not s.cfg.enable_prefix_caching
        self.free_tokens = s.pool.num_free * s.bs
        self.states = running_outputs(s) if self.peak else []
        self.room = 0.0 if self.peak else kv_room_tokens(s)

    def admits(self, req: ReqState, remaining: int) -> bool:
        """Whether ``req``, with ``remaining`` prompt tokens to compute, joins the batch
        (then its tokens are counted against what follows)."""
        out = req.output - req.generated
        if self.peak:
            if remaining > self.free_tokens:
                return False
            insort(self.states, (out, req.num_tokens))
            if not peak_fits(self.states, self.free_tokens - req.num_tokens, self.bs):
                return False
            self.free_tokens -= remaining
            return True
        total = remaining + min(max(out, 0), CLIP_MAX_NEW_TOKENS)
        if total >= self.room:
            return False
        self.room -= total
        return True


def admit(s: SchedulerState, chunks: Chunks, budget: int) -> float:
    """Admit waiting requests in order while budget, sequences and KV allow (a
    cached prefix is reused); appends their chunks; returns swap-in seconds."""
    cfg, pool, bs = s.cfg, s.pool, s.bs
    swap_s = 0.0
    running = s.running
    max_seqs = cfg.max_num_seqs
    waiting = None if s.priority else s.waiting
    gate = SglangGate(s) if s.ratio_admit else None
    while budget > 0 and len(running) < max_seqs:
        if waiting is not None:
            if not waiting:
                break
            req = waiting[0]
        else:
            if not s.wheap:
                break
            req = s.wheap[0][3]
        computed = req.computed
        hits, in_lru, keys = cached_prefix(s, req) if computed == 0 else (0, 0, [])
        start = computed if computed else hits * bs
        remaining = req.num_tokens - start
        chunk = remaining if remaining < budget else budget
        if chunk < remaining and not cfg.enable_chunked_prefill:
            break
        more = -(-(start + chunk) // bs) - hits
        local = s.window_blocks(req, start, chunk) if s.lw else 0
        if more + s.lw * local + in_lru > pool.num_free:
            break
        if s.reserve and running and (
                s.reserved_blocks + s.full_blocks(req) > pool.num_blocks):
            break
        if running and pool.num_free < s.min_free_blocks:
            break  # AMD's VLLM_SCHED_PREFILL_KVC_FREEPCT: too little KV free
        if gate is not None and not gate.admits(req, remaining):
            break
        s.queue.pop()
        swap_s += start_request(s, req, start, hits, more, keys, local)
        chunks.append((req, chunk))
        budget -= chunk
    return swap_s


def admit_by_rank(s: SchedulerState, chunks: Chunks, hold: ContextHold) -> float:
    """Attention-DP ranks schedule their own prompts (balance on): each rank admits
    its waiting requests in queue order within its share of the token budget and the
    sequences; free KV blocks and the no-evict reservation stay the replica's. Running
    prefills continue first within their ranks' budgets. Returns swap-in seconds."""
    rank_of = hold.rank_of
    tokens, seqs = hold.rank_room(s.running.values(), s.budget0, s.max_seqs, s.dec_tokens)
    for req in list(s.prefilling.values()):
        r = rank_of.get(req.rid, 0)
        if tokens[r] <= 0:
            continue
        chunk = min(req.num_tokens - req.computed, tokens[r])
        more = -(-(req.computed + chunk) // s.bs) - req.blocks
        if more > s.pool.num_free:
            continue
        s.pool.take(more)
        req.blocks += more
        chunks.append((req, chunk))
        tokens[r] -= chunk
    swap_s = 0.0
    for req in s.queue.in_order():
        r = rank_of.get(req.rid, 0)
        budget = tokens[r]
        if budget <= 0 or seqs[r] <= 0:
            continue
        start = req.computed
        remaining = req.num_tokens - start
        chunk = remaining if remaining < budget else budget
        if chunk < remaining and not s.cfg.enable_chunked_prefill:
            continue
        more = -(-(start + chunk) // s.bs)
        if more > s.pool.num_free or (s.running and s.pool.num_free < s.min_free_blocks):
            break
        if s.reserve and s.running and (
                s.reserved_blocks + s.full_blocks(req) > s.pool.num_blocks):
            break
        s.queue.remove(req)
        swap_s += start_request(s, req, start, 0, more, [])
        chunks.append((req, chunk))
        tokens[r] -= chunk
        seqs[r] -= 1
    return swap_s


def cached_prefix(s: SchedulerState, req: ReqState) -> tuple[int, int, list[int]]:
    """(blocks of ``req``'s prompt found in the prefix cache, how many of them sit in
    the evictable LRU, the prompt's block keys) for a request with nothing computed."""
    spec = req.spec
    if not (s.cfg.enable_prefix_caching and spec.prefix_hashes):
        return 0, 0, []
    if req.keys is None:
        req.keys = prefix_keys(spec, s.bs, spec.num_prompt_tokens)
    hits, in_lru = s.pool.lookup(req.keys, (req.num_tokens - 1) // s.bs)
    return hits, in_lru, req.keys


def start_request(s: SchedulerState, req: ReqState, start: int, hits: int, more: int,
                  keys: list[int], local: int = 0) -> float:
    """Move an admitted ``req`` to the running set with ``hits`` cached blocks, ``more``
    new ones and ``local`` local-layer blocks (hybrid pool), computed up to
    ``start``; returns its swap-in seconds."""
    pool, cfg = s.pool, s.cfg
    swap_s = 0.0
    if hits:
        pool.acquire(keys[:hits])
        req.keyed = keys[:hits]
        if req.num_preemptions == 0 and req.cached_tokens == 0:
            req.cached_tokens = hits * s.bs
    if local:
        pool.take(more + s.lw * local)
        req.local = local
    else:
        pool.take(more)
    req.blocks = hits + more
    req.computed = start
    if req.swapped_blocks:
        swap_s = req.swapped_blocks * cfg.kv_block_bytes / cfg.swap_bandwidth_bytes_per_s
        req.swapped_blocks = 0
    req.status = PREFILL
    s.seq += 1
    req.seq = s.seq
    rid = req.spec.request_id
    s.running[rid] = req
    s.prefilling[rid] = req
    if s.reserve:
        s.reserved_blocks += s.full_blocks(req)
    return swap_s
