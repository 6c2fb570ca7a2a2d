"""Finishing requests: their KV blocks go back to the pool and the replica is told."""

from __future__ import annotations

import heapq

from gputwin.serving.request import FINISHED, NO_KEYS, ReqState
from gputwin.serving.sched_state import SchedulerState


def finish_decoders(s: SchedulerState, last: int, now: float) -> None:
    """Release the decoders whose last token is computed in step ``last`` or before."""
    fin, cnt, bs, pool = s.fin, s.cnt, s.bs, s.pool
    running, on_finish = s.running, s.on_finish
    while fin and fin[0][0] <= last:
        _, rid, version, req = heapq.heappop(fin)
        if version != req.version:
            continue
        off = req.dec_x0 - req.dec_s0
        req.generated = req.output
        cnt[req.phase] -= 1  # preemption.leave_decode, inlined
        s.n_dec -= 1
        if not req.spec.warmup:
            s.n_measured -= 1
        s.dec_off_sum -= off
        req.version += 1
        held = -(-(off + last + 1) // bs)  # release(), inlined
        if req.local:
            held += s.lw * req.local
            req.local = 0
        del running[rid]
        if s.reserve:
            s.reserved_blocks -= s.full_blocks(req)
        keyed = req.keyed
        if keyed:
            pool.release(keyed)
            held -= len(keyed)
            req.keyed = NO_KEYS
        pool.give(held)
        req.blocks = 0
        req.status = FINISHED
        req.finish_s = now
        on_finish(req, now)


def release(s: SchedulerState, req: ReqState, held: int, now: float) -> None:
    """``req`` finished holding ``held`` blocks besides its local-layer ones."""
    if req.local:
        held += s.lw * req.local
        req.local = 0
    del s.running[req.spec.request_id]
    if s.reserve:
        s.reserved_blocks -= s.full_blocks(req)
    keyed = req.keyed
    if keyed:
        s.pool.release(keyed)
        held -= len(keyed)
        req.keyed = NO_KEYS
    if held:
        s.pool.give(held)
    req.blocks = 0
    req.status = FINISHED
    req.finish_s = now
    s.on_finish(req, now)
