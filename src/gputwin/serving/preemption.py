"""Preemption: the victim, and returning its KV blocks and its place in the queue.

Running out of KV blocks preempts the newest running request (FCFS; the lowest-priority
one under priority scheduling) by recompute or swap; it goes back to the front of the
waiting queue.
"""

from __future__ import annotations

from gputwin.serving.request import DECODE, NO_KEYS, WAITING, ReqState, generated_at
from gputwin.serving.sched_state import SchedulerState


def victim(s: SchedulerState) -> ReqState:
    """The running request preemption takes first."""
    if not s.priority:
        return next(reversed(s.running.values()))
    return max(s.running.values(),
               key=lambda r: (r.spec.priority, r.spec.arrival_time_s, r.rid))


def preempt(s: SchedulerState, req: ReqState) -> None:
    """Free ``req``'s blocks (kept as swapped blocks in swap mode) and requeue it."""
    held = s.held_blocks(req)
    if req.status == DECODE:  # its latest token came with the step that just ended
        # (prefill first: before the prefill batch that just ended, whose wait is then
        # left out of its resume gap)
        req.last_token_s = s.plan_s
        req.generated = generated_at(req, s.S)
        req.num_tokens = req.spec.num_prompt_tokens + req.generated
        req.computed = req.dec_x0 + s.S - req.dec_s0
        leave_decode(s, req)
    else:
        del s.prefilling[req.rid]
    del s.running[req.rid]
    if s.reserve:
        s.reserved_blocks -= s.full_blocks(req)
    s.pool.release(req.keyed)
    s.pool.give(held - len(req.keyed))
    req.keyed = NO_KEYS
    req.blocks = req.local = 0
    req.num_preemptions += 1
    s.num_preemptions += 1
    if s.cfg.preemption_mode == "swap":
        req.swapped_blocks = held
    else:
        req.computed = 0
    req.status = WAITING
    s.queue.push(req, front=True)


def leave_decode(s: SchedulerState, req: ReqState) -> None:
    """Take ``req`` out of the implicit decoders (its heap entry goes stale)."""
    s.cnt[req.phase] -= 1
    s.n_dec -= 1
    if not req.spec.warmup:
        s.n_measured -= 1
    s.dec_off_sum -= req.dec_x0 - req.dec_s0
    req.version += 1


def preempt_for_decoders(s: SchedulerState, need: int) -> int:
    """Preempt until the decoders' ``need`` blocks fit; returns the blocks still
    needed (a preempted decoder that needed one no longer does)."""
    pool, bs = s.pool, s.bs
    while need > pool.num_free:
        req = victim(s)
        if req.status == DECODE and (req.phase + s.S) % bs == 0:
            need -= 1
        preempt(s, req)
    return need
