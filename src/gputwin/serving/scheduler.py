"""The replica scheduler: plans each step (vLLM v1 semantics, or SGLang's prefill first).

Each step is planned by :meth:`Scheduler.plan`: running decoders first (one token each,
``1 + k`` with speculative decoding; their blocks are taken for the step), then running
prefill chunks (:mod:`.prefill_progress`), then new requests from the waiting queue
(:mod:`.admission`), all within ``max_num_batched_tokens`` and ``max_num_seqs``. Running
out of KV blocks preempts the newest running request (:mod:`.preemption`), and no new
request is admitted in that step. At the step's end the engine applies the prompt chunks
and finishes the decoders that are done (:mod:`.release`).

Prefill first (``cfg.mixed_chunk`` off, SGLang's default: ``get_next_batch_to_run`` runs
the batch of ``get_new_batch_prefill`` whenever it forms one, else the running batch
decodes): a step is either a *prefill batch* (the running prefill's next chunk, then
waiting requests, within the whole token budget; the decoders do not advance and take no
block) or a *decode batch*. The step index ``S`` counts decode batches only, so the
implicit decoders (:mod:`.decode_skip`) are unchanged.

The state (queues, implicit decoders, the KV blocks of one sequence, the hybrid pool of
local-attention layers) is :class:`~.sched_state.SchedulerState`. Imports run one way:
each of ``sched_state``, ``preemption``, ``release``, ``prefill_progress``, ``admission``
and this module imports only the ones before it in that list.
"""

from __future__ import annotations

from gputwin.serving.admission import admit, admit_by_rank, context_candidates
from gputwin.serving.preemption import preempt_for_decoders
from gputwin.serving.prefill_progress import apply_chunks, continue_prefills
from gputwin.serving.release import finish_decoders
from gputwin.serving.request import DECODE, WAITING, ReqState, generated_at
from gputwin.serving.sched_state import Chunks, SchedulerState

__all__ = ["Chunks", "Scheduler"]


class Scheduler(SchedulerState):
    """Waiting queue, running set and implicit decoders of one replica."""

    def enqueue(self, req: ReqState) -> None:
        """A new (or handed-off) request joins the back of the queue."""
        req.status = WAITING
        if self.hold is not None:
            self.hold.assign(req, [*self.running.values(), *self.queue.in_order()])
        self.queue.push(req, front=False)

    def admission_blocked(self) -> bool:
        """True when no request can join before a running one finishes: the sequence cap
        or the decoders' share of the token budget is reached, or (FCFS) a queue head was
        already refused. Free KV only shrinks while the batch decodes, so this holds for
        a whole decode-only stretch."""
        return (len(self.running) >= self.max_seqs
                or (self.mixed and self.budget0 - self.n_dec * self.dec_tokens <= 0)
                or (not self.priority and bool(self.waiting)))

    def merge_ready(self, chunks: Chunks) -> bool:
        """True when the planned prefill step's update can be applied now: every
        prefilling request completes its prompt in it and keeps decoding, no decoder
        finishes in it and nothing waits (so the next plan admits nothing unless a request
        arrives before the step ends)."""
        if (self.prefill_only or len(chunks) != len(self.prefilling)
                or (self.wheap if self.priority else self.waiting)):
            return False
        for req, chunk in chunks:
            if req.computed + chunk < req.num_tokens or req.generated + 1 >= req.output:
                return False
        fin = self.fin
        if fin and fin[0][2] != fin[0][3].version:
            self.next_finish_step()  # drop stale entries
        return not fin or fin[0][0] > self.S

    def plan(self) -> tuple[Chunks, float, bool]:
        """Decide step ``S``: returns (prefill chunks, swap-in seconds, preempted?)."""
        if not self.mixed:
            return self.plan_prefill_first()
        n_dec = self.n_dec
        budget = self.budget0 - n_dec * self.dec_tokens
        preempted = False
        if n_dec:
            need = self.cnt[(-self.S) % self.bs]
            if need:
                pool = self.pool
                if need > pool.num_free:
                    need = preempt_for_decoders(self, need)
                    preempted = True
                    self.ratio_s0 = self.S  # SGLang's retraction raises the ratio again
                pool.take(need)
        self.dec_allocated = True
        chunks: Chunks = []
        if self.run_steps > 1 and n_dec and not self.prefilling:
            if self.run_left:  # inside a multi-step run: the batch only decodes
                self.run_left -= 1
                return chunks, 0.0, preempted
            if preempted or not (self.wheap if self.priority else self.waiting):
                self.run_left = self.run_steps - 1  # this decode step opens a run
                return chunks, 0.0, preempted
        self.run_left = 0  # a scheduled step ends any run (vLLM starts a new one after it)
        hold = self.hold
        if hold is not None and not preempted and hold.held(
                context_candidates(self, budget), self.running.values(),
                self.queue.in_order(), n_dec, n_dec * self.dec_tokens):
            return chunks, 0.0, False  # the context requests wait; decoders run
        if hold is not None and hold.balance and hold.ranks > 1 and not preempted:
            return chunks, admit_by_rank(self, chunks, hold), False
        if not self.prefilling:
            if preempted or not (self.wheap if self.priority else self.waiting):
                return chunks, 0.0, preempted
            return chunks, admit(self, chunks, budget), False
        preempted = continue_prefills(self, chunks, budget) or preempted
        if preempted:
            return chunks, 0.0, True
        for _, chunk in chunks:
            budget -= chunk
        return chunks, admit(self, chunks, budget), False

    def plan_prefill_first(self) -> tuple[Chunks, float, bool]:
        """SGLang's schedule: a prefill batch when one forms (chunks returned, decoders
        wait), else a decode batch of the running decoders (no chunks)."""
        chunks: Chunks = []
        budget = self.budget0
        preempted = False
        swap_s = 0.0
        if self.prefilling:
            preempted = continue_prefills(self, chunks, budget)
            for _, chunk in chunks:
                budget -= chunk
        if not preempted and (self.wheap if self.priority else self.waiting):
            swap_s = admit(self, chunks, budget)
        if chunks:
            return chunks, swap_s, preempted
        if self.n_dec:
            need = self.cnt[(-self.S) % self.bs]
            if need:
                if need > self.pool.num_free:
                    need = preempt_for_decoders(self, need)
                    preempted = True
                    self.ratio_s0 = self.S  # SGLang's retraction raises the ratio again
                self.pool.take(need)
        self.dec_allocated = True
        return chunks, 0.0, preempted

    # ---- updates at the end of a step (see :mod:`.prefill_progress`, :mod:`.release`) ----
    def apply_chunks(self, chunks: Chunks, now: float) -> int:
        """Apply a step's prefill chunks (their step ended at ``now``, ``S`` advanced);
        returns the first tokens they emitted."""
        return apply_chunks(self, chunks, now)

    def held_requests(self, decode_steps: int) -> list[ReqState]:
        """Every request it holds, the running ones in admission order then the queue, each
        decoder's ``generated`` brought up to ``decode_steps`` steps past ``S``."""
        held = sorted(self.running.values(), key=lambda r: r.seq)
        for req in held:
            if req.status == DECODE:
                req.generated = generated_at(req, self.S + decode_steps)
        held.extend(self.queue.in_order())
        return held

    def finish_decoders(self, last: int, now: float) -> None:
        """Release the decoders whose last token is computed in step ``last`` or before."""
        finish_decoders(self, last, now)
