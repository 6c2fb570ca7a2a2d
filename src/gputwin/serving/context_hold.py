"""TensorRT-LLM's holds of context (prefill) requests, as engine options (default off).

TensorRT-LLM's PyTorch executor (``tensorrt_llm/_torch/pyexecutor/py_executor.py``,
``PyExecutor._schedule``, ``_balance_adp_requests`` and ``_waiting_requests``) may drop
every context request the scheduler picked for an iteration, so that only the generation
requests run; the dropped ones stay queued and are picked again in the next iteration.

*Attention-DP balancing* (``attention_dp_config.enable_balance``, with attention DP only),
decided once per iteration from an all-gather of each rank's scheduled counts:

- every rank has a context request and a free slot (generation requests below
  ``max_batch_size``): the waiting counter resets; when every rank also has generation
  requests, the context requests are held while the batching counter is below
  ``batching_wait_iters`` (it counts up, then resets and releases them);
- otherwise the waiting counter counts up (in every such iteration, context or not) and
  the context requests are held, unless the counter reached ``timeout_iters`` or some
  rank has no generation request: then it resets and they run.

*Batch waiting* (``batch_wait_timeout_iters`` with ``batch_wait_max_tokens_ratio``,
without attention DP only), in an iteration that has both context and generation
requests: the context requests run once the counter reached the timeout or the step's
tokens (the scheduled prompts' whole lengths plus the decode tokens) reach the ratio of
``max_num_tokens``; otherwise they are held and the counter counts up.

The replica's scheduler pools the attention-DP ranks (limits ``dp`` times a rank's), so
the rank conditions are read from a rank assigned to each request when it is queued:
the rank with the fewest active requests among those below the balanced share, the one
with the fewest active prompt tokens first (TensorRT-LLM's ``_balance_requests_across_ranks``
orders ranks by active tokens; prompt tokens stand in for them here). Under the balance a
released step admits each rank's requests within that rank's share of the token budget
and of the sequences (:meth:`ContextHold.rank_room`), as each rank schedules its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from gputwin.serving.config import EngineConfig
from gputwin.serving.request import DECODE, ReqState


class ContextHold:
    """The hold rules of one replica and their iteration counters."""

    def __init__(self, cfg: EngineConfig) -> None:
        self.ranks = cfg.attention_dp_ranks
        self.rank_seqs = max(1, cfg.max_num_seqs // self.ranks)  # max_batch_size per rank
        self.balance = cfg.adp_enable_balance
        self.timeout_iters = cfg.adp_timeout_iters
        self.batching_wait_iters = cfg.adp_batching_wait_iters
        self.wait_timeout_iters = cfg.batch_wait_timeout_iters
        self.wait_tokens = cfg.batch_wait_max_tokens_ratio * cfg.max_num_batched_tokens
        self.batch_wait = cfg.batch_wait_timeout_iters > 0 and self.wait_tokens > 0
        self.adp_waiting = 0  # TensorRT-LLM's adp_ctx_waiting_iters_count
        self.adp_batching = 0  # adp_ctx_batching_wait_iters_count
        self.wait_count = 0  # batch_wait_iters_count
        self.rank_of: dict[int, int] = {}
        self.held_steps = 0  # iterations in which context requests were held

    def assign(self, req: ReqState, active: Iterable[ReqState]) -> None:
        """Give a newly queued ``req`` its attention-DP rank (``active``: the replica's
        running and waiting requests)."""
        if self.ranks == 1 or req.rid in self.rank_of:
            return
        count = [0] * self.ranks
        tokens = [0] * self.ranks
        rank_of = self.rank_of
        for other in active:
            r = rank_of.get(other.rid, 0)
            count[r] += 1
            tokens[r] += other.spec.num_prompt_tokens
        share = -(-(sum(count) + 1) // self.ranks)
        best = min((r for r in range(self.ranks) if count[r] < share),
                   key=lambda r: (tokens[r], count[r], r))
        rank_of[req.rid] = best

    def rank_room(self, running: Iterable[ReqState], budget: int, max_seqs: int,
                  decode_tokens: int) -> tuple[list[int], list[int]]:
        """Each rank's token budget left after its decoders and its free sequence slots,
        a rank holding ``1/ranks`` of the replica's ``budget`` and ``max_seqs``."""
        ranks, rank_of = self.ranks, self.rank_of
        tokens = [budget // ranks] * ranks
        seqs = [max_seqs // ranks] * ranks
        for req in running:
            r = rank_of.get(req.rid, 0)
            seqs[r] -= 1
            if req.status == DECODE:
                tokens[r] -= decode_tokens
        return tokens, seqs

    def held(self, ctx: list[ReqState], running: Iterable[ReqState],
             waiting: Iterable[ReqState], n_dec: int, decode_tokens: int) -> bool:
        """Whether this iteration's context requests ``ctx`` (those the pooled scheduler
        would run) are held; advances the counters as TensorRT-LLM does. ``running`` and
        ``waiting``: the replica's requests (a rank with a prefilling or waiting request
        schedules a context request of its own when any can run)."""
        hold = False
        if self.balance:
            hold = self._balance_holds(bool(ctx), running, waiting)
        elif self.batch_wait and ctx and n_dec:
            tokens = decode_tokens
            for req in ctx:
                tokens += req.num_tokens
            if self.wait_count >= self.wait_timeout_iters or tokens >= self.wait_tokens:
                self.wait_count = 0
            else:
                self.wait_count += 1
                hold = True
        if hold and ctx:
            self.held_steps += 1
            return True
        return False

    def _balance_holds(self, any_ctx: bool, running: Iterable[ReqState],
                       waiting: Iterable[ReqState]) -> bool:
        ranks, rank_of = self.ranks, self.rank_of
        gen = [0] * ranks
        has_ctx = [False] * ranks
        for req in running:
            if req.status == DECODE:
                gen[rank_of.get(req.rid, 0)] += 1
            elif any_ctx:
                has_ctx[rank_of.get(req.rid, 0)] = True
        if any_ctx:
            for req in waiting:
                has_ctx[rank_of.get(req.rid, 0)] = True
        all_gen = min(gen) > 0
        if max(gen) < self.rank_seqs and all(has_ctx):
            self.adp_waiting = 0
            if all_gen:
                if self.adp_batching < self.batching_wait_iters:
                    self.adp_batching += 1
                    return True
                self.adp_batching = 0
            return False
        self.adp_waiting += 1
        if self.adp_waiting >= self.timeout_iters or not all_gen:
            self.adp_waiting = 0
            return False
        return True
