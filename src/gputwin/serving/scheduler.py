"""The replica scheduler: queues, admission, KV blocks, preemption (vLLM v1 semantics).

Each step is planned by :meth:`Scheduler.plan`: running decoders first (one token each,
``1 + k`` with speculative decoding; their blocks are taken for the step), then running
prefill chunks, then new requests from the waiting queue (:meth:`Scheduler.admit`), all
within ``max_num_batched_tokens`` and ``max_num_seqs``. Running out of KV blocks
preempts the newest running request (FCFS; the lowest-priority one under priority
scheduling) by recompute or swap, and no new request is admitted in that step.

Decoders are implicit (see :mod:`gputwin.serving.decode_skip`): at step index ``S`` a
decoder holds ``dec_x0 + (S − dec_s0)`` tokens; the scheduler keeps the per-phase counts
``cnt``, their number ``n_dec``, ``Σ (x0 − s0)`` and a heap of finish steps.

Local-attention layers in a hybrid pool (vLLM V1, ``cfg.local_block_weight`` ``lw`` > 0):
a block holds ``bs`` tokens of the whole-context layers, as ``req.blocks`` counts them,
and a request also holds ``req.local`` blocks of its local layers at ``lw`` blocks each.
A prefill chunk ``[c, c + k)`` holds those covering ``[c − W + 1, c + k)`` (the engine
frees the blocks that left the window before it allocates); a decoder holds at most the
window and one block, taken with its last prompt chunk and kept while it decodes, so a
decoder still allocates one block per ``bs`` tokens and the decode-skip planner is
unchanged. With ``lw`` = 0 every branch below is the plain pool's.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from gputwin.serving.config import EngineConfig
from gputwin.serving.context_hold import ContextHold
from gputwin.serving.kv_cache import BlockPool
from gputwin.serving.request import (
    DECODE,
    FINISHED,
    NO_KEYS,
    PREFILL,
    WAITING,
    ReqState,
    prefix_keys,
)
from gputwin.serving.wait_queue import WaitQueue

Chunks = list[tuple[ReqState, int]]


class Scheduler:
    """Waiting queue, running set and implicit decoders of one replica."""

    def __init__(self, cfg: EngineConfig, on_finish: Callable[[ReqState, float], None]) -> None:
        self.cfg = cfg
        self.bs = cfg.block_size
        self.pool = BlockPool(cfg.num_kv_blocks, cfg.block_size)
        self.priority = cfg.scheduling_policy == "priority"
        self.queue = WaitQueue(self.priority)
        self.waiting = self.queue.fifo  # the queue's containers, read on the hot path
        self.wheap = self.queue.heap
        self.running: dict[int, ReqState] = {}
        self.prefilling: dict[int, ReqState] = {}
        self.cnt = [0] * self.bs  # decoders per phase
        self.n_dec = 0
        self.dec_off_sum = 0  # Σ (x0 − s0) over decoders
        self.fin: list[tuple[int, int, int, ReqState]] = []  # (finish step, rid, version, req)
        self.S = 0  # index of the next step to plan
        self.dec_allocated = False  # decoders already hold their block for step S
        self.seq = 0
        self.budget0 = cfg.max_num_batched_tokens
        self.max_seqs = cfg.max_num_seqs
        self.dec_tokens = 1 + cfg.num_speculative_tokens
        self.on_finish = on_finish
        self.prefill_only = False  # disaggregated prefill replica: stop after 1st token
        # no-evict admission (TensorRT-LLM GUARANTEED_NO_EVICT): blocks of the whole
        # sequences of the running requests, reserved when admitted
        self._reserve = cfg.reserve_full_sequence
        self.reserved_blocks = 0
        self.num_preemptions = 0
        self.prefill_tokens = 0
        # vLLM V0 multi-step scheduling: decode steps left in the current run, during
        # which nothing is scheduled (no admission, no new prefill chunk)
        self.run_steps = cfg.num_scheduler_steps
        self.run_left = 0
        # hybrid pool: weight of a local block, window, a decoder's local blocks at most,
        # and the most local blocks a request holds: the window before a whole chunk
        # (vLLM's SlidingWindowSpec admission cap, ⌈(W − 1 + budget)/bs⌉ + 1)
        self.lw = cfg.local_block_weight
        self.window = cfg.local_window_tokens
        self.wcap = -(-self.window // self.bs) + 1 if self.lw else 0
        self.local_peak = -(-(self.window - 1 + self.budget0) // self.bs) + 1 if self.lw else 0
        # TensorRT-LLM's holds of context requests (attention-DP balance, batch waiting)
        self.hold: ContextHold | None = ContextHold(cfg) if cfg.holds_context else None

    def enqueue(self, req: ReqState) -> None:
        """A new (or handed-off) request joins the back of the queue."""
        req.status = WAITING
        if self.hold is not None:
            self.hold.assign(req, [*self.running.values(), *self.queue.in_order()])
        self.queue.push(req, front=False)

    def next_finish_step(self) -> int | None:
        """Step at which the next decoder finishes (stale heap entries dropped)."""
        fin = self.fin
        while fin and fin[0][2] != fin[0][3].version:
            heapq.heappop(fin)
        return fin[0][0] if fin else None

    def admission_blocked(self) -> bool:
        """True when no request can join before a running one finishes: the sequence cap
        or the decoders' share of the token budget is reached, or (FCFS) a queue head was
        already refused. Free KV only shrinks while the batch decodes, so this holds for
        a whole decode-only stretch."""
        return (len(self.running) >= self.max_seqs
                or self.budget0 - self.n_dec * self.dec_tokens <= 0
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

    # ---- planning -----------------------------------------------------------------------
    def plan(self) -> tuple[Chunks, float, bool]:
        """Decide step ``S``: returns (prefill chunks, swap-in seconds, preempted?)."""
        n_dec = self.n_dec
        budget = self.budget0 - n_dec * self.dec_tokens
        preempted = False
        if n_dec:
            need = self.cnt[(-self.S) % self.bs]
            if need:
                pool = self.pool
                if need > pool.num_free:
                    need = self._preempt_for_decoders(need)
                    preempted = True
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
                self.context_candidates(budget), self.running.values(),
                self.queue.in_order(), n_dec, n_dec * self.dec_tokens):
            return chunks, 0.0, False  # the context requests wait; decoders run
        if hold is not None and hold.balance and hold.ranks > 1 and not preempted:
            return chunks, self.admit_by_rank(chunks, hold), False
        if not self.prefilling:
            if preempted or not (self.wheap if self.priority else self.waiting):
                return chunks, 0.0, preempted
            return chunks, self.admit(chunks, budget), False
        preempted = self._continue_prefills(chunks, budget) or preempted
        if preempted:
            return chunks, 0.0, True
        for _, chunk in chunks:
            budget -= chunk
        return chunks, self.admit(chunks, budget), False

    def context_candidates(self, budget: int) -> list[ReqState]:
        """The requests that would run a prompt chunk in step ``S`` within ``budget``
        (the running prefills, then the queue's head requests while tokens, sequences,
        free KV blocks and the no-evict reservation allow), without changing anything;
        prefix-cache hits and local-layer blocks are not counted."""
        out: list[ReqState] = []
        for req in self.prefilling.values():
            if budget <= 0:
                return out
            out.append(req)
            budget -= min(req.num_tokens - req.computed, budget)
        free, reserved, n = self.pool.num_free, self.reserved_blocks, len(self.running)
        for req in self.queue.in_order():
            if budget <= 0 or n >= self.max_seqs:
                break
            remaining = req.num_tokens - req.computed
            chunk = remaining if remaining < budget else budget
            if chunk < remaining and not self.cfg.enable_chunked_prefill:
                break
            more = -(-(req.computed + chunk) // self.bs)
            if more > free:
                break
            if self._reserve:
                full = self.full_blocks(req)
                if n and reserved + full > self.pool.num_blocks:
                    break
                reserved += full
            free -= more
            n += 1
            budget -= chunk
            out.append(req)
        return out

    def _preempt_for_decoders(self, need: int) -> int:
        """Preempt until the decoders' ``need`` blocks fit; returns the blocks still
        needed (a preempted decoder that needed one no longer does)."""
        pool, bs = self.pool, self.bs
        while need > pool.num_free:
            victim = self.victim()
            if victim.status == DECODE and (victim.phase + self.S) % bs == 0:
                need -= 1
            self.preempt(victim)
        return need

    def _continue_prefills(self, chunks: Chunks, budget: int) -> bool:
        """The next chunk of each running prefill within ``budget`` (appended to
        ``chunks``); returns whether KV ran out and a request was preempted."""
        pool, bs = self.pool, self.bs
        preempted = False
        for req in list(self.prefilling.values()):
            if budget <= 0:
                break
            chunk = min(req.num_tokens - req.computed, budget)
            blocks = -(-(req.computed + chunk) // bs)
            more = blocks - req.blocks
            local = self._window_blocks(req, req.computed, chunk) if self.lw else 0
            if local:
                more += self.lw * (local - req.local)
            while more > pool.num_free and req.status == PREFILL:
                self.preempt(self.victim())
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

    def admit(self, chunks: Chunks, budget: int) -> float:
        """Admit waiting requests in order while budget, sequences and KV allow (a
        cached prefix is reused); appends their chunks; returns swap-in seconds."""
        cfg, pool, bs = self.cfg, self.pool, self.bs
        swap_s = 0.0
        running = self.running
        max_seqs = cfg.max_num_seqs
        waiting = None if self.priority else self.waiting
        while budget > 0 and len(running) < max_seqs:
            if waiting is not None:
                if not waiting:
                    break
                req = waiting[0]
            else:
                if not self.wheap:
                    break
                req = self.wheap[0][3]
            computed = req.computed
            hits, in_lru, keys = self._cached_prefix(req) if computed == 0 else (0, 0, [])
            start = computed if computed else hits * bs
            remaining = req.num_tokens - start
            chunk = remaining if remaining < budget else budget
            if chunk < remaining and not cfg.enable_chunked_prefill:
                break
            more = -(-(start + chunk) // bs) - hits
            local = self._window_blocks(req, start, chunk) if self.lw else 0
            if more + self.lw * local + in_lru > pool.num_free:
                break
            if self._reserve and running and (
                    self.reserved_blocks + self.full_blocks(req) > pool.num_blocks):
                break
            self.queue.pop()
            swap_s += self._start(req, start, hits, more, keys, local)
            chunks.append((req, chunk))
            budget -= chunk
        return swap_s

    def admit_by_rank(self, chunks: Chunks, hold: ContextHold) -> float:
        """Attention-DP ranks schedule their own prompts (balance on): each rank admits
        its waiting requests in queue order within its share of the token budget and the
        sequences; free KV blocks and the no-evict reservation stay the replica's. Running
        prefills continue first within their ranks' budgets. Returns swap-in seconds."""
        rank_of = hold.rank_of
        tokens, seqs = hold.rank_room(self.running.values(), self.budget0, self.max_seqs,
                                      self.dec_tokens)
        for req in list(self.prefilling.values()):
            r = rank_of.get(req.rid, 0)
            if tokens[r] <= 0:
                continue
            chunk = min(req.num_tokens - req.computed, tokens[r])
            more = -(-(req.computed + chunk) // self.bs) - req.blocks
            if more > self.pool.num_free:
                continue
            self.pool.take(more)
            req.blocks += more
            chunks.append((req, chunk))
            tokens[r] -= chunk
        swap_s = 0.0
        for req in self.queue.in_order():
            r = rank_of.get(req.rid, 0)
            budget = tokens[r]
            if budget <= 0 or seqs[r] <= 0:
                continue
            start = req.computed
            remaining = req.num_tokens - start
            chunk = remaining if remaining < budget else budget
            if chunk < remaining and not self.cfg.enable_chunked_prefill:
                continue
            more = -(-(start + chunk) // self.bs)
            if more > self.pool.num_free:
                break
            if self._reserve and self.running and (
                    self.reserved_blocks + self.full_blocks(req) > self.pool.num_blocks):
                break
            self.queue.remove(req)
            swap_s += self._start(req, start, 0, more, [])
            chunks.append((req, chunk))
            tokens[r] -= chunk
            seqs[r] -= 1
        return swap_s

    def _cached_prefix(self, req: ReqState) -> tuple[int, int, list[int]]:
        """(blocks of ``req``'s prompt found in the prefix cache, how many of them sit in
        the evictable LRU, the prompt's block keys) for a request with nothing computed."""
        spec = req.spec
        if not (self.cfg.enable_prefix_caching and spec.prefix_hashes):
            return 0, 0, []
        if req.keys is None:
            req.keys = prefix_keys(spec, self.bs, spec.num_prompt_tokens)
        hits, in_lru = self.pool.lookup(req.keys, (req.num_tokens - 1) // self.bs)
        return hits, in_lru, req.keys

    def _window_blocks(self, req: ReqState, start: int, chunk: int) -> int:
        """Local-layer blocks ``req`` holds while tokens ``[start, start + chunk)`` are
        computed: those covering the window before ``start`` and the chunk; on its last
        prompt chunk at least the ones its decode will hold (:meth:`_decode_window`)."""
        bs = self.bs
        held = -(-(start + chunk) // bs) - max(0, start - self.window + 1) // bs
        if start + chunk >= req.num_tokens and not self.prefill_only:
            held = max(held, self._decode_window(req))
        return held

    def _decode_window(self, req: ReqState) -> int:
        """Local-layer blocks a decoder holds: its whole sequence's, at most the window
        and one block (the most a sliding window spans between two frees)."""
        return min(self.wcap, -(-(req.spec.num_prompt_tokens + req.output) // self.bs))

    def sequence_blocks(self, tokens: int) -> int:
        """Pool blocks a sequence of ``tokens`` holds once prefilled."""
        blocks = -(-tokens // self.bs)
        return blocks + self.lw * min(blocks, self.wcap)

    def _start(self, req: ReqState, start: int, hits: int, more: int, keys: list[int],
               local: int = 0) -> float:
        """Move an admitted ``req`` to the running set with ``hits`` cached blocks, ``more``
        new ones and ``local`` local-layer blocks (hybrid pool), computed up to
        ``start``; returns its swap-in seconds."""
        pool, cfg = self.pool, self.cfg
        swap_s = 0.0
        if hits:
            pool.acquire(keys[:hits])
            req.keyed = keys[:hits]
            if req.num_preemptions == 0 and req.cached_tokens == 0:
                req.cached_tokens = hits * self.bs
        if local:
            pool.take(more + self.lw * local)
            req.local = local
        else:
            pool.take(more)
        req.blocks = hits + more
        req.computed = start
        if req.swapped_blocks:
            swap_s = req.swapped_blocks * cfg.kv_block_bytes / cfg.swap_bandwidth_bytes_per_s
            req.swapped_blocks = 0
        req.status = PREFILL
        self.seq += 1
        req.seq = self.seq
        rid = req.spec.request_id
        self.running[rid] = req
        self.prefilling[rid] = req
        if self._reserve:
            self.reserved_blocks += self.full_blocks(req)
        return swap_s

    # ---- preemption -----------------------------------------------------------------------
    def victim(self) -> ReqState:
        if not self.priority:
            return next(reversed(self.running.values()))
        return max(self.running.values(),
                   key=lambda r: (r.spec.priority, r.spec.arrival_time_s, r.rid))

    def held_blocks(self, req: ReqState) -> int:
        local = self.lw * req.local
        if req.status == DECODE:
            x = req.dec_x0 + self.S - req.dec_s0 + (1 if self.dec_allocated else 0)
            return -(-x // self.bs) + local
        return req.blocks + local

    def preempt(self, req: ReqState) -> None:
        held = self.held_blocks(req)
        if req.status == DECODE:
            req.generated = req.dec_g0 + (self.S - req.dec_s0)
            req.num_tokens = req.spec.num_prompt_tokens + req.generated
            req.computed = req.dec_x0 + self.S - req.dec_s0
            self._leave_decode(req)
        else:
            del self.prefilling[req.rid]
        del self.running[req.rid]
        if self._reserve:
            self.reserved_blocks -= self.full_blocks(req)
        self.pool.release(req.keyed)
        self.pool.give(held - len(req.keyed))
        req.keyed = NO_KEYS
        req.blocks = req.local = 0
        req.num_preemptions += 1
        self.num_preemptions += 1
        if self.cfg.preemption_mode == "swap":
            req.swapped_blocks = held
        else:
            req.computed = 0
        req.status = WAITING
        self.queue.push(req, front=True)

    def _leave_decode(self, req: ReqState) -> None:
        self.cnt[req.phase] -= 1
        self.n_dec -= 1
        self.dec_off_sum -= req.dec_x0 - req.dec_s0
        req.version += 1

    # ---- updates at the end of a step -------------------------------------------------------
    def finish_decoders(self, last: int, now: float) -> None:
        """Release the decoders whose last token is computed in step ``last`` or before."""
        fin, cnt, bs, pool = self.fin, self.cnt, self.bs, self.pool
        running, on_finish = self.running, self.on_finish
        while fin and fin[0][0] <= last:
            _, rid, version, req = heapq.heappop(fin)
            if version != req.version:
                continue
            off = req.dec_x0 - req.dec_s0
            req.generated = req.output
            cnt[req.phase] -= 1  # _leave_decode, inlined
            self.n_dec -= 1
            self.dec_off_sum -= off
            req.version += 1
            held = -(-(off + last + 1) // bs)  # release(), inlined
            if req.local:
                held += self.lw * req.local
                req.local = 0
            del running[rid]
            if self._reserve:
                self.reserved_blocks -= self.full_blocks(req)
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

    def full_blocks(self, req: ReqState) -> int:
        """KV blocks of ``req``'s whole sequence (prompt + output; one output token on a
        disaggregated prefill replica)."""
        out = 1 if self.prefill_only else req.output
        return self.sequence_blocks(req.spec.num_prompt_tokens + out)

    def release(self, req: ReqState, held: int, now: float) -> None:
        """``req`` finished holding ``held`` blocks besides its local-layer ones."""
        if req.local:
            held += self.lw * req.local
            req.local = 0
        del self.running[req.spec.request_id]
        if self._reserve:
            self.reserved_blocks -= self.full_blocks(req)
        keyed = req.keyed
        if keyed:
            self.pool.release(keyed)
            held -= len(keyed)
            req.keyed = NO_KEYS
        if held:
            self.pool.give(held)
        req.blocks = 0
        req.status = FINISHED
        req.finish_s = now
        self.on_finish(req, now)

    def apply_chunks(self, chunks: Chunks, now: float) -> int:
        """Apply a step's prefill chunks (their step ended at ``now``, ``S`` advanced);
        returns the first tokens they emitted."""
        emitted = 0
        for req, chunk in chunks:
            if req.status == PREFILL:
                emitted += self._after_chunk(req, chunk, now)
        return emitted

    def _after_chunk(self, req: ReqState, chunk: int, now: float) -> int:
        computed = req.computed = req.computed + chunk
        self.prefill_tokens += chunk
        keys = req.keys
        if keys and self.cfg.enable_prefix_caching:
            req.keyed = self.pool.register_prefix(keys, req.keyed,
                                                  min(len(keys), computed // self.bs))
        if computed < req.num_tokens:
            return 0
        generated = req.generated = req.generated + 1
        if req.first_token_s is None:
            req.first_token_s = now
        rid = req.spec.request_id
        del self.prefilling[rid]
        if generated >= req.output or self.prefill_only:
            self.release(req, req.blocks, now)
            return 1
        req.num_tokens += 1
        req.status = DECODE
        if req.local:  # keep the window's blocks; the chunk's others left it
            keep = self._decode_window(req)
            if keep < req.local:
                self.pool.give(self.lw * (req.local - keep))
                req.local = keep
        s0 = self.S
        off = computed - s0
        req.dec_x0 = computed
        req.dec_s0 = s0
        req.dec_g0 = generated
        phase = req.phase = off % self.bs
        finish = req.finish_step = s0 + (req.output - generated) - 1
        self.cnt[phase] += 1
        self.n_dec += 1
        self.dec_off_sum += off
        heapq.heappush(self.fin, (finish, rid, req.version, req))
        return 1
