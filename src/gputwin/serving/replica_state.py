"""A replica's counters and its step in flight, and what they read at any instant.

:class:`ReplicaState` holds what the router and the timeline ask a replica: the queue and
running set (through its :class:`~.scheduler.Scheduler`), the outstanding counter, the
step, decode-only stretch or merged segment in flight and the statistics. The readings
``*_at(t)`` count the part of the step in flight finished by ``t`` (the arithmetic is in
:mod:`~.decode_skip`). :class:`~.engine.Replica`, the step runner, builds on it and is the
only writer of the step in flight.
"""

from __future__ import annotations

from gputwin.serving.decode_skip import alloc_between, steps_done
from gputwin.serving.scheduler import Scheduler


class ReplicaState:
    """The counters and the step in flight of one replica, read at any instant."""

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.pool = sched.pool
        # the current step, stretch (n decode steps costing a, a + b, ...) or segment
        # (a prefill step of cost c0, applied when planned, then n − 1 decode steps)
        self.in_step = False
        self._start_s = 0.0
        self._n = 1
        self._a = 0.0
        self._b = 0.0
        self._dur = 0.0
        self._pre = False
        self._c0 = 0.0
        self._pre_tokens = 0  # tokens the applied prefill step emitted
        self.outstanding = 0  # waiting + running (kept as a counter for the routers)
        # statistics
        self.busy_s = 0.0
        self.num_steps = 0
        self.tokens_out = 0

    # ---- now (the router) -----------------------------------------------------------
    @property
    def num_waiting(self) -> int:
        return self.sched.queue.size()

    @property
    def num_running(self) -> int:
        return len(self.sched.running)

    @property
    def num_outstanding(self) -> int:
        return self.outstanding

    @property
    def waiting_prompt_tokens(self) -> int:
        return self.sched.queue.prompt_tokens

    @property
    def num_preemptions(self) -> int:
        return self.sched.num_preemptions

    @property
    def prefill_tokens(self) -> int:
        return self.sched.prefill_tokens

    @property
    def prefill_only(self) -> bool:
        return self.sched.prefill_only

    @prefill_only.setter
    def prefill_only(self, value: bool) -> None:
        self.sched.prefill_only = value

    # ---- at an instant within the step in flight (the timeline, faults) -------------
    def steps_done_at(self, t: float) -> int:
        """Steps of the current stretch finished by ``t`` (0 when idle)."""
        if not self.in_step:
            return 0
        dt = t - self._start_s
        if dt >= self._dur:
            return self._n
        return steps_done(dt, self._n, self._a, self._b, self._c0, self._pre)

    def kv_used_blocks_at(self, t: float) -> int:
        """Blocks in use at ``t`` (includes the allocations of a stretch so far)."""
        used = self.pool.num_used
        if self.in_step and self._n > 1:
            s = self.sched
            done = steps_done(t - self._start_s, self._n, self._a, self._b, self._c0,
                              self._pre)
            started = min(self._n, 1 + done)
            if self._pre:  # decode steps S, S+1, ... follow the (applied) prefill step
                return used + alloc_between(s.cnt, s.n_dec, s.S, s.S + started - 1)
            used += alloc_between(s.cnt, s.n_dec, s.S + 1, s.S + started)
        return used

    def tokens_out_at(self, t: float) -> float:
        n_dec = self.sched.n_dec
        if self.in_step and self._pre:
            done = self.steps_done_at(t)
            if done == 0:
                return float(self.tokens_out - self._pre_tokens)
            return float(self.tokens_out + n_dec * (done - 1))
        if self.in_step and self._n > 1:
            return float(self.tokens_out + n_dec * self.steps_done_at(t))
        return float(self.tokens_out)

    def num_steps_at(self, t: float) -> int:
        """Steps finished by ``t``, counting those of the current stretch (its applied
        prefill step is counted at the merge; here only once it has finished)."""
        if not self.in_step:
            return self.num_steps
        done = self.steps_done_at(t)
        if self._pre:
            return self.num_steps - 1 + done
        return self.num_steps + done

    def busy_s_at(self, t: float) -> float:
        if not self.in_step:
            return self.busy_s
        return self.busy_s + min(max(0.0, t - self._start_s), self._dur)
