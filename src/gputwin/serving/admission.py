"""Admission: which waiting requests start a prompt chunk in the step being planned.

Waiting requests are admitted in queue order while the token budget
(``max_num_batched_tokens``), the sequence cap (``max_num_seqs``), free KV blocks and,
under no-evict admission, the reservation of whole sequences allow (:func:`admit`); a
cached prefix is reused. Under TensorRT-LLM's attention-DP balance each rank admits
within its own share (:func:`admit_by_rank`).
"""

from __future__ import annotations

from gputwin.serving.context_hold import ContextHold
from gputwin.serving.request import PREFILL, ReqState, prefix_keys
from gputwin.serving.sched_state import Chunks, SchedulerState


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
        if more > free:
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


def admit(s: SchedulerState, chunks: Chunks, budget: int) -> float:
    """Admit waiting requests in order while budget, sequences and KV allow (a
    cached prefix is reused); appends their chunks; returns swap-in seconds."""
    cfg, pool, bs = s.cfg, s.pool, s.bs
    swap_s = 0.0
    running = s.running
    max_seqs = cfg.max_num_seqs
    waiting = None if s.priority else s.waiting
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
        if more > s.pool.num_free:
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
