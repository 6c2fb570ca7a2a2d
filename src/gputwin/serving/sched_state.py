"""The state a replica's scheduler keeps, and the KV blocks one sequence holds.

:class:`SchedulerState` holds the waiting queue, the running set and the implicit
decoders (see :mod:`gputwin.serving.decode_skip`): at step index ``S`` a decoder holds
``dec_x0 + (S − dec_s0)`` tokens; the state keeps the per-phase counts ``cnt``, their
number ``n_dec`` and how many of them are measured (``n_measured``: not warm-up requests,
whose tokens stay out of the ITL histogram like every other metric), ``Σ (x0 − s0)`` and
a heap of finish steps. The modules that change it
(:mod:`.admission`, :mod:`.preemption`, :mod:`.prefill_progress`, :mod:`.release`) import
this one; :class:`~.scheduler.Scheduler` builds on it and them.

Local-attention layers in a hybrid pool (vLLM V1, ``cfg.local_block_weight`` ``lw`` > 0):
a block holds ``bs`` tokens of the whole-context layers, as ``req.blocks`` counts them,
and a request also holds ``req.local`` blocks of its local layers at ``lw`` blocks each.
A prefill chunk ``[c, c + k)`` holds those covering ``[c − W + 1, c + k)`` (the engine
frees the blocks that left the window before it allocates); a decoder holds at most the
window and one block, taken with its last prompt chunk and kept while it decodes, so a
decoder still allocates one block per ``bs`` tokens and the decode-skip planner is
unchanged. With ``lw`` = 0 every branch is the plain pool's.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from gputwin.serving.config import EngineConfig
from gputwin.serving.context_hold import ContextHold
from gputwin.serving.histogram import LogHistogram
from gputwin.serving.kv_cache import BlockPool
from gputwin.serving.request import DECODE, ReqState
from gputwin.serving.wait_queue import WaitQueue

Chunks = list[tuple[ReqState, int]]


class SchedulerState:
    """Waiting queue, running set, implicit decoders and KV accounting of one replica."""

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
        self.n_measured = 0  # decoders whose tokens the ITL histogram counts (not warm-up)
        self.plan_s = 0.0  # when the step being planned starts (its decoders' last token)
        #: inter-token latencies of the measured tokens (the replica's ``itl``): the engine
        #: adds its steps' gaps, a prefill chunk the gap of a token emitted after a stall
        self.itl = LogHistogram()
        self.dec_off_sum = 0  # Σ (x0 − s0) over decoders
        self.fin: list[tuple[int, int, int, ReqState]] = []  # (finish step, rid, version, req)
        self.S = 0  # index of the next step to plan
        self.dec_allocated = False  # decoders already hold their block for step S
        self.seq = 0
        self.budget0 = cfg.max_num_batched_tokens
        self.max_seqs = cfg.max_num_seqs
        self.dec_tokens = 1 + cfg.num_speculative_tokens
        self.mixed = cfg.mixed_chunk  # off: prefill batches apart from decode batches
        # SGLang's admission: its new_token_ratio decays from the step ratio_s0 on (reset
        # when the replica idles or retracts a request)
        self.ratio_admit = cfg.new_token_ratio
        # AMD's prefill admission: new prefills only while this many KV blocks are free
        self.min_free_blocks = math.ceil(cfg.prefill_min_free_kv_frac * cfg.num_kv_blocks)
        self.ratio_s0 = 0
        self.on_finish = on_finish
        self.prefill_only = False  # disaggregated prefill replica: stop after 1st token
        # no-evict admission (TensorRT-LLM GUARANTEED_NO_EVICT): blocks of the whole
        # sequences of the running requests, reserved when admitted
        self.reserve = cfg.reserve_full_sequence
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

    def next_finish_step(self) -> int | None:
        """Step at which the next decoder finishes (stale heap entries dropped)."""
        fin = self.fin
        while fin and fin[0][2] != fin[0][3].version:
            heapq.heappop(fin)
        return fin[0][0] if fin else None

    # ---- KV blocks of one sequence ------------------------------------------------------
    def window_blocks(self, req: ReqState, start: int, chunk: int) -> int:
        """Local-layer blocks ``req`` holds while tokens ``[start, start + chunk)`` are
        computed: those covering the window before ``start`` and the chunk; on its last
        prompt chunk at least the ones its decode will hold (:meth:`decode_window`)."""
        bs = self.bs
        held = -(-(start + chunk) // bs) - max(0, start - self.window + 1) // bs
        if start + chunk >= req.num_tokens and not self.prefill_only:
            held = max(held, self.decode_window(req))
        return held

    def decode_window(self, req: ReqState) -> int:
        """Local-layer blocks a decoder holds: its whole sequence's, at most the window
        and one block (the most a sliding window spans between two frees)."""
        return min(self.wcap, -(-(req.spec.num_prompt_tokens + req.output) // self.bs))

    def sequence_blocks(self, tokens: int) -> int:
        """Pool blocks a sequence of ``tokens`` holds once prefilled."""
        blocks = -(-tokens // self.bs)
        return blocks + self.lw * min(blocks, self.wcap)

    def full_blocks(self, req: ReqState) -> int:
        """KV blocks of ``req``'s whole sequence (prompt + output; one output token on a
        disaggregated prefill replica)."""
        out = 1 if self.prefill_only else req.output
        return self.sequence_blocks(req.spec.num_prompt_tokens + out)

    def held_blocks(self, req: ReqState) -> int:
        """Pool blocks a running ``req`` holds now, its local-layer ones included."""
        local = self.lw * req.local
        if req.status == DECODE:
            x = req.dec_x0 + self.S - req.dec_s0 + (1 if self.dec_allocated else 0)
            return -(-x // self.bs) + local
        return req.blocks + local
