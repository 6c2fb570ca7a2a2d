"""Prompt chunks: the next chunk of each running prefill, and a chunk's effect at the end
of its step (the prefix cache registers its blocks; a finished prompt emits its first
token and starts decoding, or finishes)."""

from __future__ import annotations

import heapq

from gputwin.serving.preemption import preempt, victim
from gputwin.serving.release import release
from gputwin.serving.request import DECODE, PREFILL, ReqState
from gputwin.serving.sched_state import Chunks, SchedulerState


def continue_prefills(s: SchedulerState, chunks: Chunks, budget: int) -> bool:
    """The next chunk of each running prefill within ``budget`` (appended to
    ``chunks``); returns whether KV ran out and a request was preempted."""
    pool, bs = s.pool, s.bs
    preempted = False
    for req in list(s.prefilling.values()):
        if budget <= 0:
            break
        chunk = min(req.num_tokens - req.computed, budget)
        blocks = -(-(req.computed + chunk) // bs)
        more = blocks - req.blocks
        local = s.window_blocks(req, req.computed, chunk) if s.lw else 0
        if local:
            more += s.lw * (local - req.local)
        while more > pool.num_free and req.status == PREFILL:
            preempt(s, victim(s))
            preempted = True
        if req.status != PREFILL:
            break
        if more >= 0:
            pool.take(more)
        else:  # local blocks that left the window outnumber the chunk's new ones
            pool.give(-more)
        req.blocks = blocks
        req.local = local
        chunks.append((req, chunk))
        budget -= chunk
    return preempted


def apply_chunks(s: SchedulerState, chunks: Chunks, now: float) -> int:
    """Apply a step's prefill chunks (their step ended at ``now``, ``S`` advanced);
    returns the first tokens they emitted."""
    emitted = 0
    for req, chunk in chunks:
        if req.status == PREFILL:
            emitted += after_chunk(s, req, chunk, now)
    return emitted


def after_chunk(s: SchedulerState, req: ReqState, chunk: int, now: float) -> int:
    """Apply one computed chunk of ``req``; returns the first tokens it emitted (0 or 1)."""
    computed = req.computed = req.computed + chunk
    s.prefill_tokens += chunk
    keys = req.keys
    if keys and s.cfg.enable_prefix_caching:
        req.keyed = s.pool.register_prefix(keys, req.keyed, min(len(keys), computed // s.bs))
    if computed < req.num_tokens:
        return 0
    generated = req.generated = req.generated + 1
    spec = req.spec
    if req.first_token_s is None:
        req.first_token_s = now
    elif not spec.warmup:  # a token after a stall: its gap is an inter-token latency
        s.itl.add(now - req.last_token_s, 1.0)
    req.last_token_s = now
    rid = spec.request_id
    del s.prefilling[rid]
    if generated >= req.output or s.prefill_only:
        release(s, req, req.blocks, now)
        return 1
    req.num_tokens += 1
    req.status = DECODE
    if req.local:  # keep the window's blocks; the chunk's others left it
        keep = s.decode_window(req)
        if keep < req.local:
            s.pool.give(s.lw * (req.local - keep))
            req.local = keep
    s0 = s.S
    off = computed - s0
    req.dec_x0 = computed
    req.dec_s0 = s0
    req.dec_g0 = generated
    phase = req.phase = off % s.bs
    finish = req.finish_step = s0 + (req.output - generated) - 1
    s.cnt[phase] += 1
    s.n_dec += 1
    if not spec.warmup:
        s.n_measured += 1
    s.dec_off_sum += off
    heapq.heappush(s.fin, (finish, rid, req.version, req))
    return 1
