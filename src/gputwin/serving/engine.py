"""One serving replica: a vLLM-v1-style engine driven by the event kernel.

A step is *plan → time → update*: the scheduler (:meth:`Replica._plan`) decides how many
tokens each request computes (decodes first, then running prefill chunks, then new
requests from the waiting queue, all within ``max_num_batched_tokens`` and
``max_num_seqs``), the step model prices it, and at the step's end the update samples
tokens, finishes requests and frees their KV blocks. Running out of KV blocks preempts
the newest running request (FCFS; the lowest-priority one under priority scheduling) by
recompute or swap, and no new request is admitted in that step (as vLLM v1).

**Decode skipping.** A decoding request's counters are not touched per step: with the
replica's step index ``S``, its KV length is ``x0 + (S − s0)``, so a step costs O(1) for
all decoders together. When a planned step is decode-only (nothing to prefill, nothing
admissible, no preemption) the batch cannot change until a request finishes, the KV
cache runs out or a request arrives. The replica then plans ``n`` steps at once: ``n``
is the distance to the next finish and to KV exhaustion (block allocations repeat with
period ``block_size``: a per-phase count gives them in O(block_size)); step ``j`` costs
``a + b·j`` (the decode context grows by one token per sequence per step and the step
model is linear in it — checked, and the run is split otherwise), so the stretch ends
at ``Σ = n·a + b·n(n−1)/2``. An arrival cuts it at the first step boundary at or after
the arrival time. A prefill step whose requests all start decoding (and in which no
decoder finishes and nothing waits) is applied when planned and merged with the stretch
after it into one *segment* (:meth:`Replica._merge`); an arrival during the prefill step
cuts the segment back to it. ``EngineConfig.skip_decode_steps = False`` runs step by
step; both give the same results within float rounding (tested).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

from gputwin.serving.config import EngineConfig
from gputwin.serving.histogram import LogHistogram
from gputwin.serving.kv_cache import BlockPool
from gputwin.serving.request import (
    DECODE,
    DROPPED,
    FINISHED,
    NO_KEYS,
    PREFILL,
    WAITING,
    ReqState,
    prefix_keys,
)
from gputwin.sim.kernel import EventHandle, Simulator

PRIORITY_STEP = 1  # arrivals (0) at the same instant are seen by the next plan


class StepModel(Protocol):
    """What the engine needs from :class:`gputwin.perf.serving.ServingPerf`."""

    def step_time_s(self, num_prefill_tokens: int, prefill_context_tokens_sum: float,
                    prefill_attn_pairs: float, num_decode_seqs: int,
                    decode_context_tokens_sum: float) -> float: ...

    def spec_step_time_s(self, num_decode_seqs: int, decode_context_tokens_sum: float,
                         num_prefill_tokens: int = 0, prefill_context_tokens_sum: float = 0.0,
                         prefill_attn_pairs: float = 0.0) -> float: ...


class EngineSink(Protocol):
    """Told about requests leaving a replica (the fleet records them)."""

    def on_finish(self, req: ReqState, replica: Replica, now_s: float) -> None: ...

    def on_drop(self, req: ReqState, replica: Replica, now_s: float) -> None: ...


class Replica:
    """One engine. ``submit`` hands it a request; the kernel runs its steps."""

    def __init__(self, replica_id: int, cfg: EngineConfig, model: StepModel, sim: Simulator,
                 sink: EngineSink, *, name: str = "") -> None:
        self.id = replica_id
        self.name = name or f"replica-{replica_id}"
        self.cfg = cfg
        self.model = model
        self.sim = sim
        self.sink = sink
        self.bs = cfg.block_size
        self.pool = BlockPool(cfg.num_kv_blocks, cfg.block_size)
        self._priority = cfg.scheduling_policy == "priority"
        self.waiting: deque[ReqState] = deque()
        self._wheap: list[tuple[int, float, int, ReqState]] = []
        self.running: dict[int, ReqState] = {}
        self.prefilling: dict[int, ReqState] = {}
        self.cnt = [0] * self.bs
        self.n_dec = 0
        self.dec_off_sum = 0  # Σ (x0 − s0) over decoders
        self._fin: list[tuple[int, int, int, ReqState]] = []
        self.S = 0  # index of the next step to plan
        self._dec_allocated = False  # decoders already hold their block for step S
        self._seq = 0
        self.spec = cfg.num_speculative_tokens > 0
        self._tps = cfg.tokens_per_step
        # current step / stretch
        self.in_step = False
        self._handle: EventHandle | None = None
        self._start_s = 0.0
        self._n = 1
        self._a = 0.0
        self._b = 0.0
        self._dur = 0.0
        # merged segment: a prefill step (cost _c0, update applied when planned) followed
        # by _n − 1 decode-only steps; _pre_tokens = tokens that step emits
        self._pre = False
        self._c0 = 0.0
        self._pre_tokens = 0
        self.horizon_s = math.inf  # no eager update whose step would end after it
        self._chunks: list[tuple[ReqState, int]] = []
        self._slopes: dict[int, float] = {}  # batch size -> step-time increase per step
        # batch size -> (ctx0, cost at ctx0, slope per context token) of the decode-only
        # step cost, or None when the model is not linear in the context for that batch
        self._lines: dict[int, tuple[float, float, float] | None] = {}
        self._skip = cfg.skip_decode_steps
        self._blocked = False  # the stretch's waiting queue cannot be admitted before it ends
        self._budget0 = cfg.max_num_batched_tokens
        self._dec_tokens = 1 + cfg.num_speculative_tokens
        self._fcfs = not self._priority
        self._end_cb = self._step_end
        self.on_idle: Callable[[Replica], None] | None = None
        # statistics
        self.busy_s = 0.0
        self.num_steps = 0
        self.num_preemptions = 0
        self.tokens_out = 0
        self.prefill_tokens = 0
        self.itl = LogHistogram()
        self.waiting_prompt_tokens = 0
        self.accepting = True  # False while draining (autoscaler scale-down)
        self.prefill_only = False  # disaggregated prefill replica: stop after 1st token
        self.outstanding = 0  # waiting + running (kept as a counter for the routers)
        # no-evict admission (TensorRT-LLM GUARANTEED_NO_EVICT): blocks of the whole
        # sequences of the running requests, reserved when admitted
        self._reserve = cfg.reserve_full_sequence
        self.reserved_blocks = 0

    # ---- queries (the router and the timeline) --------------------------------------
    @property
    def num_waiting(self) -> int:
        return len(self._wheap) if self._priority else len(self.waiting)

    @property
    def num_running(self) -> int:
        return len(self.running)

    @property
    def num_outstanding(self) -> int:
        return self.outstanding

    def steps_done_at(self, t: float) -> int:
        """Steps of the current stretch finished by ``t`` (0 when idle)."""
        if not self.in_step:
            return 0
        dt = t - self._start_s
        return self._n if dt >= self._dur else self._k_at(dt, strict=False)

    def kv_used_blocks_at(self, t: float) -> int:
        """Blocks in use at ``t`` (includes the allocations of a stretch so far)."""
        used = self.pool.num_used
        if self.in_step and self._n > 1:
            started = min(self._n, self._k_at(t - self._start_s, strict=True))
            if self._pre:  # decode steps S, S+1, ... follow the (applied) prefill step
                return used + self._alloc_between(self.S, self.S + started - 1)
            used += self._alloc_between(self.S + 1, self.S + started)
        return used

    def tokens_out_at(self, t: float) -> float:
        extra = 0
        if self.in_step and self._pre:
            done = self.steps_done_at(t)
            if done == 0:
                return float(self.tokens_out - self._pre_tokens)
            return float(self.tokens_out + self.n_dec * (done - 1))
        if self.in_step and self._n > 1:
            extra = self.n_dec * self.steps_done_at(t)
        return float(self.tokens_out + extra)

    def busy_s_at(self, t: float) -> float:
        if not self.in_step:
            return self.busy_s
        return self.busy_s + min(max(0.0, t - self._start_s), self._dur)

    # ---- submission -------------------------------------------------------------------
    def submit(self, req: ReqState, now: float) -> None:
        """Queue ``req`` (or drop it if it can never fit); start a step if idle."""
        cfg = self.cfg
        spec = req.spec
        req.replica = self.id
        req.engine_arrival_s = now
        if req.computed == 0:  # a new request (not a KV hand-off)
            if spec.num_prompt_tokens + 1 > cfg.max_model_len:
                req.status, req.reason = DROPPED, (
                    f"prompt of {spec.num_prompt_tokens} tokens exceeds max_model_len "
                    f"{cfg.max_model_len}")
                self.sink.on_drop(req, self, now)
                return
            if spec.num_prompt_tokens + req.output > cfg.max_model_len:
                req.output = cfg.max_model_len - spec.num_prompt_tokens
                req.truncated = True
            req.num_tokens = spec.num_prompt_tokens + req.generated
        out = 1 if self.prefill_only else req.output
        need = -(-(spec.num_prompt_tokens + out) // self.bs)
        if need > cfg.num_kv_blocks:
            req.status, req.reason = DROPPED, (
                f"needs {need} KV blocks for prompt + output, the replica has "
                f"{cfg.num_kv_blocks}")
            self.sink.on_drop(req, self, now)
            return
        req.status = WAITING
        self.outstanding += 1
        if self._priority:
            self._push_waiting(req, front=False)
        else:
            self.waiting_prompt_tokens += req.num_tokens - req.computed
            self.waiting.append(req)
        if not self.in_step:
            self._start_step(now)
        elif self._n > 1 and not self._blocked:
            self._truncate(now)

    def _push_waiting(self, req: ReqState, *, front: bool) -> None:
        self.waiting_prompt_tokens += req.num_tokens - req.computed
        if self._priority:
            heapq.heappush(self._wheap, (req.spec.priority, req.spec.arrival_time_s,
                                         req.rid, req))
        elif front:
            self.waiting.appendleft(req)
        else:
            self.waiting.append(req)

    def _peek_waiting(self) -> ReqState | None:
        if self._priority:
            return self._wheap[0][3] if self._wheap else None
        return self.waiting[0] if self.waiting else None

    def _pop_waiting(self) -> ReqState:
        req = heapq.heappop(self._wheap)[3] if self._priority else self.waiting.popleft()
        self.waiting_prompt_tokens -= req.num_tokens - req.computed
        return req

    # ---- planning ---------------------------------------------------------------------
    def _start_step(self, now: float) -> None:
        chunks, swap_s, preempted = self._plan()
        n_dec = self.n_dec
        if not chunks and n_dec == 0:
            self.in_step = False
            if self.on_idle is not None:
                self.on_idle(self)
            return
        self.in_step = True
        self._start_s = now
        self._chunks = chunks
        self._pre = False
        ctx = self.dec_off_sum + n_dec * (self.S + 1)
        if not chunks and not preempted and self._skip:
            n = self._max_stretch()
            lines = self._lines
            line = lines[n_dec] if n_dec in lines else self._decode_line(n_dec)
            if line is not None:
                # a decode-only stretch on the verified line: no model call
                a = line[1] + line[2] * (ctx - line[0])
                b = line[2] * n_dec
            elif n > 1:
                n, a, b = self._stretch_costs(n, ctx)
            else:
                a, b = self._decode_cost(n_dec, ctx), 0.0
            self._n, self._a, self._b = n, a, b
            self._dur = n * a + b * n * (n - 1) / 2.0 if n > 1 else a
            # FCFS: a queue head that could not be admitted stays blocked until a finish
            # (budget and sequence cap are fixed, free KV only shrinks during a stretch)
            self._blocked = n > 1 and (
                len(self.running) >= self.cfg.max_num_seqs
                or self._budget0 - n_dec * self._dec_tokens <= 0
                or (self._fcfs and bool(self.waiting)))
        else:
            dur = self._single_cost(chunks, n_dec, ctx) + swap_s
            if self._skip and chunks and not preempted and self._can_merge(chunks, now + dur):
                self._merge(now, chunks, dur)
            else:
                self._n = 1
                self._dur = dur
                self._a, self._b = dur, 0.0
                self._blocked = False
        self._handle = self.sim.schedule_at(now + self._dur, self._end_cb, PRIORITY_STEP)

    def _can_merge(self, chunks: list[tuple[ReqState, int]], end_s: float) -> bool:
        """True when the planned prefill step's update can be applied now: every
        prefilling request completes its prompt in it and keeps decoding, no decoder
        finishes in it, nothing waits (so the next plan admits nothing unless a request
        arrives before the step ends, which cuts the segment there) and the step ends
        within the horizon."""
        if self.prefill_only or end_s > self.horizon_s or len(chunks) != len(self.prefilling):
            return False
        if self._wheap if self._priority else self.waiting:
            return False
        for req, chunk in chunks:
            if req.computed + chunk < req.num_tokens or req.generated + 1 >= req.output:
                return False
        fin = self._fin
        while fin and fin[0][2] != fin[0][3].version:
            heapq.heappop(fin)
        return not (fin and fin[0][0] <= self.S)

    def _merge(self, now: float, chunks: list[tuple[ReqState, int]], c0: float) -> None:
        """Apply prefill step ``S`` (cost ``c0``) now and plan the decode-only stretch
        after it as one segment: step ``S`` then decode steps ``S+1 .. S+m``, whose
        blocks are taken at the segment's end (none is taken here)."""
        n_old = self.n_dec
        if n_old:
            self.itl.add(c0, n_old)
        self.tokens_out += n_old
        self.num_steps += 1
        self.S += 1
        self._dec_allocated = False
        t1 = now + c0
        for req, chunk in chunks:
            self._after_chunk(req, chunk, t1)
        self._chunks = []
        self._pre, self._c0, self._pre_tokens = True, c0, n_old + len(chunks)
        n_dec = self.n_dec
        lines = self._lines
        line = lines[n_dec] if n_dec in lines else self._decode_line(n_dec)
        m = 0
        if line is not None:
            fin = self._fin
            m = self._fit_steps(self.S, self.pool.num_free, fin[0][0] - self.S + 1)
        a = b = 0.0
        if m >= 1 and line is not None:
            ctx = self.dec_off_sum + n_dec * (self.S + 1)
            a = line[1] + line[2] * (ctx - line[0])
            b = line[2] * n_dec
        self._n, self._a, self._b = 1 + m, a, b
        self._dur = self._t_of(1 + m)
        self._blocked = m >= 1 and (len(self.running) >= self.cfg.max_num_seqs
                                    or self._budget0 - n_dec * self._dec_tokens <= 0)

    def _fit_steps(self, first: int, free: int, limit: int) -> int:
        """How many consecutive decode steps from ``first`` (at most ``limit``) can take
        their blocks out of ``free`` (one block per decoder every ``block_size`` steps)."""
        n_dec, bs, cnt = self.n_dec, self.bs, self.cnt
        cycles = free // n_dec
        if cycles * bs >= limit:
            return max(0, limit)
        m = cycles * bs
        used = cycles * n_dec
        for _ in range(bs):
            add = cnt[(-(first + m)) % bs]
            if used + add > free:
                break
            used += add
            m += 1
        return min(limit, m)

    def _decode_line(self, n_dec: int) -> tuple[float, float, float] | None:
        """(ctx0, cost(ctx0), slope) when the decode-only cost of ``n_dec`` sequences is
        linear in the context over its whole feasible range, else None (cached).

        The roofline step model is a sum of maxima of linear terms, hence convex in the
        context; a convex function equal to its chord at the midpoint is linear on the
        whole interval, so three calls prove it (within 1e-9 relative)."""
        lo = float(n_dec)
        hi = float(n_dec) * (self.cfg.max_model_len + 1)
        f_lo = self._decode_cost(n_dec, lo)
        f_hi = self._decode_cost(n_dec, hi)
        f_mid = self._decode_cost(n_dec, (lo + hi) / 2.0)
        line: tuple[float, float, float] | None = None
        if abs(f_mid - (f_lo + f_hi) / 2.0) <= 1e-9 * max(f_mid, 1e-12):
            line = (lo, f_lo, (f_hi - f_lo) / (hi - lo))
        self._lines[n_dec] = line
        return line

    def _decode_cost(self, n_dec: int, ctx: float) -> float:
        if self.spec:
            return self.model.spec_step_time_s(n_dec, ctx) / self._tps
        return self.model.step_time_s(0, 0.0, 0.0, n_dec, ctx)

    def _single_cost(self, chunks: list[tuple[ReqState, int]], n_dec: int, ctx: float) -> float:
        if not chunks:
            return self._decode_cost(n_dec, ctx)
        p_tokens = 0
        p_ctx = 0.0
        pairs = 0.0
        for req, chunk in chunks:
            p_tokens += chunk
            past = req.computed
            p_ctx += past
            pairs += chunk * (past + chunk / 2.0)
        if not self.spec:
            return self.model.step_time_s(p_tokens, p_ctx, pairs, n_dec, ctx)
        full = self.model.spec_step_time_s(n_dec, ctx, p_tokens, p_ctx, pairs)
        if n_dec == 0:
            return full
        # decoders emit tokens_per_step per real step: only 1/tps of their share counts
        return full - self.model.spec_step_time_s(n_dec, ctx) * (1.0 - 1.0 / self._tps)

    def _stretch_costs(self, n: int, ctx: float) -> tuple[int, float, float]:
        """(n, a, b): step j of the stretch costs a + b·j; n halves until that is exact.

        The step model is linear in the decode context for a fixed batch; the slope found
        for a batch size is reused once the end point confirms it (one model call)."""
        n_dec = self.n_dec
        a = self._decode_cost(n_dec, ctx)
        slope = self._slopes.get(n_dec)
        if slope is not None and n > 1:
            last = self._decode_cost(n_dec, ctx + n_dec * (n - 1))
            if abs(last - (a + slope * (n - 1))) <= 1e-9 * max(a, 1e-12):
                return n, a, slope
        while n > 1:
            last = self._decode_cost(n_dec, ctx + n_dec * (n - 1))
            b = (last - a) / (n - 1)
            mid = (n - 1) // 2
            if mid == 0:
                return n, a, b
            at_mid = self._decode_cost(n_dec, ctx + n_dec * mid)
            if abs(at_mid - (a + b * mid)) <= 1e-9 * max(a, 1e-12):
                self._slopes[n_dec] = b
                return n, a, b
            n = mid + 1
        return 1, a, 0.0

    def _max_stretch(self) -> int:
        """Steps until the next finish or KV exhaustion (≥ 1), counting the planned one."""
        fin = self._fin
        while fin and fin[0][2] != fin[0][3].version:
            heapq.heappop(fin)
        n_fin = fin[0][0] - self.S + 1 if fin else 1
        if n_fin <= 1 or self.n_dec == 0:
            return 1
        free = self.pool.num_free
        n_dec, bs, cnt = self.n_dec, self.bs, self.cnt
        cycles = free // n_dec
        if cycles >= n_fin // bs + 1:
            return n_fin
        base = cycles * bs  # steps S+1 .. S+base allocate cycles·n_dec blocks
        m = base
        used = cycles * n_dec
        for j in range(1, bs):
            add = cnt[(-(self.S + base + j)) % bs]
            if used + add > free:
                break
            used += add
            m += 1
        return max(1, min(n_fin, m + 1))

    def _alloc_between(self, first: int, last: int) -> int:
        """Decoder block allocations of steps ``first .. last − 1``."""
        n = last - first
        if n <= 0 or self.n_dec == 0:
            return 0
        cnt, bs = self.cnt, self.bs
        total = (n // bs) * self.n_dec
        rest = n % bs
        if rest:
            # steps j = last − rest .. last − 1 use phases (−j) % bs: a cyclic run of
            # indices from (1 − last) % bs up to (rest − last) % bs
            lo = (1 - last) % bs
            hi = lo + rest
            total += sum(cnt[lo:hi]) if hi <= bs else sum(cnt[lo:]) + sum(cnt[:hi - bs])
        return total

    def _k_at(self, dt: float, *, strict: bool) -> int:
        """Steps of the stretch finished by ``dt`` (strict: started by ``dt``)."""
        a, b = self._a, self._b
        if strict:
            # steps started by dt: 1 + (steps finished strictly before or at dt)
            return 1 + self._k_at(dt, strict=False)
        if dt <= 0:
            return 0
        shift, rest = 0, dt
        if self._pre:  # the prefill step (c0) comes first
            shift, rest = (1, dt - self._c0) if dt >= self._c0 else (0, -1.0)
        if rest < 0:
            k = 0
        elif b == 0.0:
            k = shift + (int(rest // a) if a > 0 else self._n)
        else:
            h = a - b / 2.0
            k = shift + int((-h + math.sqrt(h * h + 2.0 * b * rest)) / b)
        k = max(0, min(self._n, k))
        while k < self._n and self._t_of(k + 1) <= dt:
            k += 1
        while k > 0 and self._t_of(k) > dt:
            k -= 1
        return k

    def _t_of(self, k: int) -> float:
        if self._pre:  # the prefill step, then decode steps costing a, a + b, ...
            if k <= 0:
                return 0.0
            k -= 1
            return self._c0 + k * self._a + self._b * k * (k - 1) / 2.0
        return k * self._a + self._b * k * (k - 1) / 2.0

    def _truncate(self, now: float) -> None:
        """Cut the stretch at the first step boundary at or after ``now``."""
        dt = now - self._start_s
        n = self._n
        if self._pre and dt <= self._c0:
            k = 1  # during the (applied) prefill step: cut right after it
        else:
            k = self._k_at(dt, strict=False)
            if k < n and self._t_of(k) < dt:
                k += 1  # the step in progress finishes first
            if k < 1:
                k = 1
        if k >= n:
            return
        self._n = k
        self._dur = self._t_of(k)
        if self._handle is not None:
            self.sim.cancel(self._handle)
        self._handle = self.sim.schedule_at(self._start_s + self._dur, self._end_cb,
                                            PRIORITY_STEP)

    # ---- the scheduler --------------------------------------------------------------------
    def _plan(self) -> tuple[list[tuple[ReqState, int]], float, bool]:
        """Decide step ``S``: returns (prefill chunks, swap-in seconds, preempted?)."""
        pool, bs = self.pool, self.bs
        preempted = False
        budget = self._budget0 - self.n_dec * self._dec_tokens
        need = self.cnt[(-self.S) % bs] if self.n_dec else 0
        if need:
            while need > pool.num_free:
                victim = self._victim()
                if victim.status == DECODE and (victim.phase + self.S) % bs == 0:
                    need -= 1
                self._preempt(victim)
                preempted = True
            pool.take(need)
        self._dec_allocated = True
        chunks: list[tuple[ReqState, int]] = []
        if not self.prefilling:
            if preempted or not (self._wheap if self._priority else self.waiting):
                return chunks, 0.0, preempted
            return chunks, self._admit(chunks, budget), False
        for req in list(self.prefilling.values()):
            if budget <= 0:
                break
            chunk = min(req.num_tokens - req.computed, budget)
            more = -(-(req.computed + chunk) // bs) - req.blocks
            while more > pool.num_free and req.status == PREFILL:
                victim = self._victim()
                self._preempt(victim)
                preempted = True
            if req.status != PREFILL:
                break
            pool.take(more)
            req.blocks += more
            chunks.append((req, chunk))
            budget -= chunk
        swap_s = 0.0
        if not preempted:
            swap_s = self._admit(chunks, budget)
        return chunks, swap_s, preempted

    def _admit(self, chunks: list[tuple[ReqState, int]], budget: int) -> float:
        cfg, pool, bs = self.cfg, self.pool, self.bs
        swap_s = 0.0
        running, prefilling = self.running, self.prefilling
        max_seqs, caching = cfg.max_num_seqs, cfg.enable_prefix_caching
        waiting = None if self._priority else self.waiting
        while budget > 0 and len(running) < max_seqs:
            if waiting is not None:
                if not waiting:
                    break
                req = waiting[0]
            else:
                if not self._wheap:
                    break
                req = self._wheap[0][3]
            hits = in_lru = 0
            keys: list[int] = []
            computed = req.computed
            spec = req.spec
            if computed == 0 and caching and spec.prefix_hashes:
                if req.keys is None:
                    req.keys = prefix_keys(spec, bs, spec.num_prompt_tokens)
                keys = req.keys
                hits, in_lru = pool.lookup(keys, (req.num_tokens - 1) // bs)
            start = computed if computed else hits * bs
            remaining = req.num_tokens - start
            chunk = remaining if remaining < budget else budget
            if chunk < remaining and not cfg.enable_chunked_prefill:
                break
            more = -(-(start + chunk) // bs) - hits
            if more + in_lru > pool.num_free:
                break
            if self._reserve and running and (
                    self.reserved_blocks + self._full_blocks(req) > pool.num_blocks):
                break
            if waiting is not None:
                waiting.popleft()
                self.waiting_prompt_tokens -= req.num_tokens - computed
            else:
                self._pop_waiting()
            if hits:
                pool.acquire(keys[:hits])
                req.keyed = keys[:hits]
                if req.num_preemptions == 0 and req.cached_tokens == 0:
                    req.cached_tokens = hits * bs
            pool.take(more)
            req.blocks = hits + more
            req.computed = start
            if req.swapped_blocks:
                swap_s += req.swapped_blocks * cfg.kv_block_bytes / cfg.swap_bandwidth_bytes_per_s
                req.swapped_blocks = 0
            req.status = PREFILL
            self._seq += 1
            req.seq = self._seq
            rid = spec.request_id
            running[rid] = req
            prefilling[rid] = req
            if self._reserve:
                self.reserved_blocks += self._full_blocks(req)
            chunks.append((req, chunk))
            budget -= chunk
        return swap_s

    def _victim(self) -> ReqState:
        if not self._priority:
            return next(reversed(self.running.values()))
        return max(self.running.values(),
                   key=lambda r: (r.spec.priority, r.spec.arrival_time_s, r.rid))

    def _held_blocks(self, req: ReqState) -> int:
        if req.status == DECODE:
            x = req.dec_x0 + self.S - req.dec_s0 + (1 if self._dec_allocated else 0)
            return -(-x // self.bs)
        return req.blocks

    def _preempt(self, req: ReqState) -> None:
        held = self._held_blocks(req)
        if req.status == DECODE:
            req.generated = req.dec_g0 + (self.S - req.dec_s0)
            req.num_tokens = req.spec.num_prompt_tokens + req.generated
            req.computed = req.dec_x0 + self.S - req.dec_s0
            self._leave_decode(req)
        else:
            del self.prefilling[req.rid]
        del self.running[req.rid]
        if self._reserve:
            self.reserved_blocks -= self._full_blocks(req)
        self.pool.release(req.keyed)
        self.pool.give(held - len(req.keyed))
        req.keyed = NO_KEYS
        req.blocks = 0
        req.num_preemptions += 1
        self.num_preemptions += 1
        if self.cfg.preemption_mode == "swap":
            req.swapped_blocks = held
        else:
            req.computed = 0
        req.status = WAITING
        self._push_waiting(req, front=True)

    def _leave_decode(self, req: ReqState) -> None:
        self.cnt[req.phase] -= 1
        self.n_dec -= 1
        self.dec_off_sum -= req.dec_x0 - req.dec_s0
        req.version += 1

    # ---- update at the end of a step (or stretch) -------------------------------------------
    def _step_end(self) -> None:
        if self._pre:
            self._segment_end()
            return
        now = self.sim.now
        n = self._n
        first = self.S
        last = first + n - 1
        if n > 1:
            self.pool.take(self._alloc_between(first + 1, last + 1))
            n_dec = self.n_dec
            self.itl.add_uniform(self._a, self._a + self._b * (n - 1), n_dec * n)
        elif self.n_dec:
            self.itl.add(self._dur, self.n_dec)
        self.tokens_out += self.n_dec * n
        self.busy_s += self._dur
        self.num_steps += n
        self.in_step = False
        self._handle = None
        self._dec_allocated = False
        self.S = last + 1
        fin = self._fin
        if fin and fin[0][0] <= last:
            self._finish_decoders(last, now)
        if self._chunks:
            for req, chunk in self._chunks:
                if req.status == PREFILL:
                    self._after_chunk(req, chunk, now)
            self._chunks = []
        self._start_step(now)

    def _segment_end(self) -> None:
        """End of a merged segment: its prefill step is applied, its ``n − 1`` decode
        steps ``S .. S+n−2`` are not (their blocks are taken now)."""
        now = self.sim.now
        m = self._n - 1
        first = self.S
        n_dec = self.n_dec
        if m:
            self.pool.take(self._alloc_between(first, first + m))
            self.itl.add_uniform(self._a, self._a + self._b * (m - 1), n_dec * m)
            self.tokens_out += n_dec * m
        self.busy_s += self._dur
        self.num_steps += m
        self.in_step = False
        self._handle = None
        self._dec_allocated = False
        self._pre = False
        self.S = first + m
        fin = self._fin
        if m and fin and fin[0][0] <= first + m - 1:
            self._finish_decoders(first + m - 1, now)
        self._start_step(now)

    def _finish_decoders(self, last: int, now: float) -> None:
        fin = self._fin
        while fin and fin[0][0] <= last:
            _, _, version, req = heapq.heappop(fin)
            if version != req.version:
                continue
            off = req.dec_x0 - req.dec_s0
            req.generated = req.output
            self.cnt[req.phase] -= 1  # _leave_decode, inlined
            self.n_dec -= 1
            self.dec_off_sum -= off
            req.version += 1
            self._release(req, -(-(off + last + 1) // self.bs), now)

    def _full_blocks(self, req: ReqState) -> int:
        """KV blocks of ``req``'s whole sequence (prompt + output)."""
        out = 1 if self.prefill_only else req.output
        return -(-(req.spec.num_prompt_tokens + out) // self.bs)

    def _release(self, req: ReqState, held: int, now: float) -> None:
        del self.running[req.spec.request_id]
        if self._reserve:
            self.reserved_blocks -= self._full_blocks(req)
        keyed = req.keyed
        if keyed:
            self.pool.release(keyed)
            held -= len(keyed)
            req.keyed = NO_KEYS
        self.pool.give(held)
        req.blocks = 0
        req.status = FINISHED
        req.finish_s = now
        self.outstanding -= 1
        self.sink.on_finish(req, self, now)

    def _after_chunk(self, req: ReqState, chunk: int, now: float) -> None:
        computed = req.computed = req.computed + chunk
        self.prefill_tokens += chunk
        if req.keys and self.cfg.enable_prefix_caching:
            self._register(req)
        if computed < req.num_tokens:
            return
        generated = req.generated = req.generated + 1
        self.tokens_out += 1
        if req.first_token_s is None:
            req.first_token_s = now
        rid = req.spec.request_id
        del self.prefilling[rid]
        if generated >= req.output or self.prefill_only:
            self._release(req, req.blocks, now)
            return
        req.num_tokens += 1
        req.status = DECODE
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
        heapq.heappush(self._fin, (finish, rid, req.version, req))

    def _register(self, req: ReqState) -> None:
        keys = req.keys
        assert keys is not None
        full = min(len(keys), req.computed // self.bs)
        start = len(req.keyed)
        if start >= full or start < 0:
            return
        registered = req.keyed
        if not isinstance(registered, list):
            registered = req.keyed = list(registered)
        for j in range(start, full):
            if not self.pool.register(keys[j]):
                break  # an identical block is cached already; ours stays anonymous
            registered.append(keys[j])
