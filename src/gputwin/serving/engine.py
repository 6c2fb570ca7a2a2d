"""One serving replica: the step runner of a vLLM-v1-style engine on the event kernel.

A step is *plan → time → update*: the scheduler (:class:`~.scheduler.Scheduler`) decides
how many tokens each request computes, the pricer (:class:`~.step_cost.StepPricer`) turns
that into seconds with the step model, and at the step's end the update samples tokens,
finishes requests and frees their KV blocks. This module owns the step lifecycle: when
steps start and end, decode-only stretches, merged segments and their cuts. The counters
and the step in flight, and what they read at any instant, are
:class:`~.replica_state.ReplicaState`'s.

**Decode skipping** (the arithmetic is in :mod:`~.decode_skip`). When a planned step is
decode-only (nothing to prefill, nothing admissible, no preemption) the batch cannot
change until a request finishes, the KV cache runs out or a request arrives, so the
replica plans ``n`` steps at once as one event. An arrival cuts the stretch at the first
step boundary at or after the arrival time. A prefill step whose requests all start
decoding (and in which no decoder finishes and nothing waits) is applied when planned
and merged with the stretch after it into one *segment* (:meth:`Replica._merge`); an
arrival during the prefill step cuts the segment back to it.
``EngineConfig.skip_decode_steps = False`` runs step by step (the reference); both give
the same results within float rounding (tested).

**Prefill first** (``cfg.mixed_chunk`` off, SGLang): a prefill batch runs its prompt
chunks alone (:meth:`Replica._prefill_end`); the decoders wait through the prefill
batches in a row and see one gap, recorded at the next decode batch
(:class:`~gputwin.serving.prefill_pause.PrefillPause`). A decode-only stretch ends where a
prefill batch can form: an arrival cuts it (unless the queue head is refused until a
finish), a finish ends it.

**Inter-token latencies** go to :attr:`Replica.itl`, one weight per decoder per step (or
per stretch and segment, spread over their steps). The weight is the scheduler's
``n_measured``, not ``n_dec``: a warm-up request's tokens load the batch and its step
times but stay out of the histogram, as its TTFT, TPOT and end-to-end latency stay out
of the metrics; without warm-up the two counts are equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from gputwin.perf.engines import StepModel
from gputwin.serving.config import EngineConfig
from gputwin.serving.decode_skip import (
    alloc_between,
    cut_at,
    fit_steps,
    max_stretch,
    time_of,
)
from gputwin.serving.prefill_pause import PrefillPause
from gputwin.serving.replica_state import ReplicaState
from gputwin.serving.request import DROPPED, WAITING, ReqState, fit_to_engine
from gputwin.serving.scheduler import Chunks, Scheduler
from gputwin.serving.step_cost import StepPricer
from gputwin.sim.kernel import EventHandle, Simulator

__all__ = ["PRIORITY_STEP", "EngineSink", "Replica", "StepModel", "least_outstanding"]

PRIORITY_STEP = 1  # arrivals (0) at the same instant are seen by the next plan


class EngineSink(Protocol):
    """Told about requests leaving a replica (the fleet records them)."""

    def on_finish(self, req: ReqState, replica: Replica, now_s: float) -> None: ...

    def on_drop(self, req: ReqState, replica: Replica, now_s: float) -> None: ...


class Replica(ReplicaState):
    """One engine. ``submit`` hands it a request; the kernel runs its steps."""

    def __init__(self, replica_id: int, cfg: EngineConfig, model: StepModel, sim: Simulator,
                 sink: EngineSink, *, name: str = "") -> None:
        self.id = replica_id
        self.name = name or f"replica-{replica_id}"
        self.cfg = cfg
        self.sim = sim
        self.sink = sink
        super().__init__(Scheduler(cfg, self._finished))
        self.pricer = StepPricer(model, cfg)
        self.bs = cfg.block_size
        # multi-step runs and context holds are planned step by step (a stretch would
        # skip a run's end or the iteration that releases a held request)
        self._skip = (cfg.skip_decode_steps and cfg.num_scheduler_steps == 1
                      and not cfg.holds_context)
        # FCFS queueing inlined in submit, unless a context hold assigns ranks on enqueue
        self._fcfs = cfg.scheduling_policy != "priority" and not cfg.holds_context
        self._max_prompt = cfg.max_prompt_tokens  # derived from cfg: computed once
        self._lines = self.pricer.lines  # batch size -> verified cost line (shared)
        # the step in flight (its timing is ReplicaState's): its event, prefill chunks
        self._handle: EventHandle | None = None
        self._chunks: Chunks = []
        self._blocked = False  # the stretch's waiting queue cannot be admitted before it ends
        self._end_cb = self._step_end
        self._segment_end_cb = self._segment_end
        self._prefill_end_cb = self._prefill_end
        # prefill first: the decoders' wait through prefill batches in a row (seconds so
        # far, and (decoders, wait when they emitted their first token) groups)
        self._sep = not cfg.mixed_chunk
        # SGLang's admission room grows as its ratio decays: step by step while a request
        # waits (an empty queue stays empty until an arrival cuts the stretch)
        self._ratio = cfg.new_token_ratio
        self._paused = False  # the step in flight is a prefill batch (decoders wait)
        self._pause = PrefillPause()
        self.horizon_s = float("inf")  # no eager update whose step would end after it
        self.on_idle: Callable[[Replica], None] | None = None
        self.accepting = True  # False while draining (autoscaler scale-down)
        self.dead = False  # True after fail(): a fault took it down
        # statistics (besides ReplicaState's)
        self.itl = self.sched.itl
        self.num_merges = 0  # prefill steps applied when planned (merged segments)
        self.num_cuts = 0  # stretches or segments shortened by an arrival

    # ---- submission -------------------------------------------------------------------
    def submit(self, req: ReqState, now: float) -> None:
        """Queue ``req`` (or drop it if it can never fit); start a step if idle."""
        cfg = self.cfg
        req.replica = self.id
        req.engine_arrival_s = now
        reason = fit_to_engine(req, cfg.max_model_len, cfg.num_kv_blocks, self.bs,
                               prefill_only=self.sched.prefill_only,
                               max_prompt_tokens=self._max_prompt,
                               local_weight=cfg.local_block_weight,
                               local_peak=self.sched.local_peak)
        if reason:
            req.status, req.reason = DROPPED, reason
            self.sink.on_drop(req, self, now)
            return
        self.outstanding += 1
        sched = self.sched
        if self._fcfs:  # Scheduler.enqueue, inlined for the common case
            req.status = WAITING
            queue = sched.queue
            queue.prompt_tokens += req.num_tokens - req.computed
            queue.fifo.append(req)
        else:
            sched.enqueue(req)
        if not self.in_step:
            self._start_step(now)
        elif self._n > 1 and not self._blocked:
            self._truncate(now)

    def _finished(self, req: ReqState, now: float) -> None:
        self.outstanding -= 1
        self.sink.on_finish(req, self, now)

    def fail(self, now: float) -> list[ReqState]:
        """The replica dies at ``now`` (a hardware or software fault): its step in flight
        is abandoned and every request it holds, running or waiting, is handed back in
        admission order (the caller retries or fails them). A dead replica never runs
        again. Its counters keep the work done up to ``now`` (the finished steps of a
        stretch in flight, and its busy time); each decoder's ``generated`` is brought up
        to the steps it finished (a stretch ends at its first finish, so none of them had
        finished)."""
        sched = self.sched
        decode_steps = 0
        if self.in_step:
            done = self.steps_done_at(now)
            decode_steps = 0 if self._paused else max(0, done - 1) if self._pre else done
            self.tokens_out = int(self.tokens_out_at(now))
            self.num_steps = self.num_steps_at(now)
            self.busy_s = self.busy_s_at(now)
        if self._handle is not None:
            self.sim.cancel(self._handle)
            self._handle = None
        self.in_step = False
        self.accepting = False
        self.dead = True
        self.outstanding = 0
        return sched.held_requests(decode_steps)

    def blocks_returned(self, n: int, now: float) -> None:
        """``n`` KV blocks held for a transfer come back to the pool (disaggregated prefill:
        the blocks are freed only once the decode side has the cache); an idle replica with
        waiting requests starts a step, since admission may have waited for them."""
        self.pool.give(n)
        if not self.in_step and self.num_waiting and not self.dead:
            self._start_step(now)

    # ---- planning ---------------------------------------------------------------------
    def _start_step(self, now: float) -> None:
        sched = self.sched
        sched.plan_s = now
        chunks, swap_s, preempted = sched.plan()
        n_dec = sched.n_dec
        if not chunks and n_dec == 0:
            self.in_step = False
            if self._sep:
                self._pause.groups.clear()
            if self.on_idle is not None:
                self.on_idle(self)
            return
        self.in_step = True
        self._start_s = now
        self._chunks = chunks
        self._pre = False
        if self._sep and chunks:  # a prefill batch: the decoders wait
            self._start_prefill_batch(now, chunks, swap_s)
            return
        ctx = sched.dec_off_sum + n_dec * (sched.S + 1)
        if not chunks and not preempted and self._skip and not (
                self._ratio and sched.queue.size()):
            self._plan_stretch(n_dec, ctx)
        else:
            dur = self.pricer.step(chunks, n_dec, ctx) + swap_s
            if (self._skip and chunks and not preempted and now + dur <= self.horizon_s
                    and sched.merge_ready(chunks)):
                self._merge(now, chunks, dur)
            else:
                self._n = 1
                self._dur = self._a = dur
                self._b = 0.0
                self._blocked = False
        if self._sep and self._pause.groups:
            self._pause.log(self.itl, self._a, sched.n_measured)
        self._handle = self.sim.schedule_at(
            now + self._dur, self._segment_end_cb if self._pre else self._end_cb, PRIORITY_STEP)

    def _start_prefill_batch(self, now: float, chunks: Chunks, swap_s: float) -> None:
        """Prefill first: a step of prompt chunks alone (no decoder advances)."""
        dur = self.pricer.step(chunks, 0, 0.0) + swap_s
        self._paused = True
        self._n = 1
        self._dur = self._a = dur
        self._b = 0.0
        self._blocked = False
        self._handle = self.sim.schedule_at(now + dur, self._prefill_end_cb, PRIORITY_STEP)

    def _plan_stretch(self, n_dec: int, ctx: float) -> None:
        """A decode-only stretch from step ``S``: to the next finish or KV exhaustion."""
        sched = self.sched
        fin = sched.fin
        if fin and fin[0][2] != fin[0][3].version:
            sched.next_finish_step()  # drop stale entries
        n_fin = fin[0][0] - sched.S + 1 if fin else 1
        n = max_stretch(sched.cnt, n_dec, sched.S, sched.pool.num_free, n_fin)
        n, a, b = self.pricer.plan_stretch(n_dec, n, ctx)
        self._n, self._a, self._b = n, a, b
        self._dur = n * a + b * n * (n - 1) / 2.0 if n > 1 else a  # stretch_s, inlined
        # a queue head that cannot be admitted stays blocked until a finish
        self._blocked = n > 1 and sched.admission_blocked()

    def _merge(self, now: float, chunks: Chunks, c0: float) -> None:
        """Apply prefill step ``S`` (cost ``c0``) now and plan the decode-only stretch
        after it as one segment: step ``S`` then decode steps ``S+1 .. S+m``, whose
        blocks are taken at the segment's end (none is taken here)."""
        sched = self.sched
        self.num_merges += 1
        n_old = sched.n_dec
        measured = sched.n_measured
        if measured:
            self.itl.add(c0, measured)
        self.tokens_out += n_old
        self.num_steps += 1
        sched.S += 1
        sched.dec_allocated = False
        self.tokens_out += sched.apply_chunks(chunks, now + c0)
        self._chunks = []
        self._pre, self._c0, self._pre_tokens = True, c0, n_old + len(chunks)
        n_dec = sched.n_dec
        lines = self._lines
        line = lines[n_dec] if n_dec in lines else self.pricer.line(n_dec)
        m = 0
        a = b = 0.0
        if line is not None:
            limit = sched.fin[0][0] - sched.S + 1
            m = fit_steps(sched.cnt, n_dec, sched.S, sched.pool.num_free, limit)
            if m >= 1:
                ctx = sched.dec_off_sum + n_dec * (sched.S + 1)
                a = line[1] + line[2] * (ctx - line[0])
                b = line[2] * n_dec
        self._n, self._a, self._b = 1 + m, a, b
        self._dur = c0 + m * a + b * m * (m - 1) / 2.0  # time_of(1 + m), inlined
        self._blocked = m >= 1 and sched.admission_blocked()  # nothing waits (merge_ready)

    def _truncate(self, now: float) -> None:
        """Cut the stretch at the first step boundary at or after ``now``."""
        k = cut_at(now - self._start_s, self._n, self._a, self._b, self._c0, self._pre)
        if k >= self._n:
            return
        self.num_cuts += 1
        self._n = k
        self._dur = time_of(k, self._a, self._b, self._c0, self._pre)
        if self._handle is not None:
            self.sim.cancel(self._handle)
        self._handle = self.sim.schedule_at(
            self._start_s + self._dur, self._segment_end_cb if self._pre else self._end_cb,
            PRIORITY_STEP)

    # ---- update at the end of a step (or stretch) -------------------------------------------
    def _step_end(self) -> None:
        """End of a step or of a decode-only stretch (nothing applied yet)."""
        sched = self.sched
        now = self.sim.now
        n = self._n
        n_dec = sched.n_dec
        measured = sched.n_measured
        first = sched.S
        last = first + n - 1
        if self._sep and self._pause.first_logged:  # first-step gaps logged with the wait
            self._pause.first_logged = False
            if n > 1:
                sched.pool.take(alloc_between(sched.cnt, n_dec, first + 1, last + 1))
                self.itl.add_uniform(self._a + self._b, self._a + self._b * (n - 1),
                                     measured * (n - 1))
        elif n > 1:
            blocks = alloc_between(sched.cnt, n_dec, first + 1, last + 1)
            if blocks:
                sched.pool.take(blocks)
            self.itl.add_uniform(self._a, self._a + self._b * (n - 1), measured * n)
        elif measured:
            self.itl.add(self._dur, measured)
        self.tokens_out += n_dec * n
        self._close(n)
        sched.S = last + 1
        fin = sched.fin
        if fin and fin[0][0] <= last:
            sched.finish_decoders(last, now)
        if self._chunks:
            self.tokens_out += sched.apply_chunks(self._chunks, now)
            self._chunks = []
        self._start_step(now)

    def _prefill_end(self) -> None:
        """End of a prefill batch (prefill first): its chunks are applied; the decoders
        did not advance, their wait grows by the batch, the requests that finished their
        prompts join the wait from their first token."""
        sched = self.sched
        now = self.sim.now
        measured, dur = sched.n_measured, self._dur
        self._close(1)
        self._paused = False
        self.tokens_out += sched.apply_chunks(self._chunks, now)
        self._chunks = []
        self._pause.batch_ended(dur, measured, sched.n_measured)
        self._start_step(now)

    def _segment_end(self) -> None:
        """End of a merged segment: its prefill step is applied, its ``n − 1`` decode
        steps ``S .. S+n−2`` are not (their blocks are taken now)."""
        sched = self.sched
        now = self.sim.now
        m = self._n - 1
        first = sched.S
        n_dec = sched.n_dec
        if m:
            blocks = alloc_between(sched.cnt, n_dec, first, first + m)
            if blocks:
                sched.pool.take(blocks)
            self.itl.add_uniform(self._a, self._a + self._b * (m - 1),
                                 sched.n_measured * m)
            self.tokens_out += n_dec * m
        self._close(m)
        self._pre = False
        sched.S = first + m
        fin = sched.fin
        if m and fin and fin[0][0] <= first + m - 1:
            sched.finish_decoders(first + m - 1, now)
        self._start_step(now)

    def _close(self, steps: int) -> None:
        self.busy_s += self._dur
        self.num_steps += steps
        self.in_step = False
        self._handle = None
        self.sched.dec_allocated = False


def least_outstanding(replicas: Sequence[Replica]) -> Replica:
    """The first of ``replicas`` with the fewest waiting + running requests (here, not in
    the router, so that it is compiled with the engine: one pass over the counters)."""
    best = replicas[0]
    low = best.outstanding
    for rep in replicas:
        if rep.outstanding < low:
            best, low = rep, rep.outstanding
    return best
