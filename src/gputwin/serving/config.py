"""Engine limits and options of one replica (vLLM names where they exist)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gputwin.errors import InputError

PreemptionMode = Literal["recompute", "swap"]
SchedulingPolicy = Literal["fcfs", "priority"]


def check_step_budget(max_num_batched_tokens: int, max_num_seqs: int,
                      num_speculative_tokens: int = 0, where: str | None = None) -> None:
    """The token budget of one step must let every running sequence decode (with its
    speculative tokens) in each step; raises :class:`InputError` at ``where``."""
    decode_tokens = max_num_seqs * (1 + num_speculative_tokens)
    if max_num_batched_tokens < decode_tokens:
        raise InputError(
            f"max_num_batched_tokens ({max_num_batched_tokens}) must be >= max_num_seqs × "
            f"(1 + speculative tokens) = {decode_tokens} so every running sequence can "
            "decode in each step", where=where)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What the replica scheduler needs (token counts are integers).

    ``num_kv_blocks``: from :meth:`gputwin.perf.serving_memory.KvMemory.num_kv_blocks`.
    ``kv_block_bytes``: bytes of one block on one GPU (swap cost). ``swap_bandwidth``:
    host↔GPU copy rate per GPU for swap preemption. ``tokens_per_step``: tokens a decode
    sequence emits per step (speculative decoding's expected acceptance, 1 without).
    ``skip_decode_steps``: advance decode-only stretches in closed form (same results as
    step by step within float rounding; off = reference mode).
    ``reserve_full_sequence``: admit a request only when the KV blocks of its whole
    sequence (prompt + output) fit beside those of the running requests (TensorRT-LLM's
    ``GUARANTEED_NO_EVICT`` capacity policy: no preemption); off = vLLM's greedy
    admission with preemption when the cache runs out.
    ``num_scheduler_steps``: vLLM V0 multi-step scheduling (``--num-scheduler-steps``,
    v0.5.5-v0.7): the scheduler runs once per that many decode steps, so a request that
    arrives while the batch decodes waits for the run's end before its prefill (1 = the
    scheduler runs before every step). Runs step by step (no decode skipping).
    ``local_window_tokens`` / ``local_block_weight``: local-attention layers in a hybrid
    pool (vLLM V1): a block of ``num_kv_blocks`` then holds ``block_size`` tokens of the
    whole-context layers, and a sequence also holds ``local_block_weight`` blocks per
    block of its last ``local_window_tokens`` tokens (0: no such layers; every block
    holds every layer).
    ``attention_dp_ranks``: attention-DP ranks pooled in this replica (limits are theirs
    together). ``adp_enable_balance`` / ``adp_timeout_iters`` / ``adp_batching_wait_iters``:
    TensorRT-LLM's ``attention_dp_config`` (hold context requests until every rank has
    one, up to the timeout in iterations); ``batch_wait_timeout_iters`` /
    ``batch_wait_max_tokens_ratio``: TensorRT-LLM's batch waiting without attention DP
    (hold context requests until their tokens reach the ratio of the token budget, up to
    the timeout). Both off by default; see :mod:`gputwin.serving.context_hold`. Runs
    step by step (no decode skipping) while either is on.
    ``mixed_chunk``: each step carries the running decoders and the prompt chunks within
    the token budget (vLLM V1, TensorRT-LLM; SGLang with ``--enable-mixed-chunk``). Off:
    SGLang's default schedule, prefill first: a step is a *prefill batch* (prompt chunks
    only, within the whole token budget; the decoders wait) whenever one can be formed,
    else a decode batch (:meth:`gputwin.serving.scheduler.Scheduler.plan`).
    ``new_token_ratio``: SGLang's admission (PrefillAdder, radix cache on): a waiting
    request is admitted only while its prompt and whole output fit in the free KV less a
    share (``new_token_ratio``) of the running requests' outputs still to come
    (:func:`gputwin.serving.admission.kv_room_tokens`). Off: vLLM's greedy admission.
    ``prefill_min_free_kv_frac``: admit a waiting request's prefill only while at least
    this share of the KV blocks is free (AMD's MLPerf vLLM fork,
    ``VLLM_SCHED_PREFILL_KVC_FREEPCT`` / 100); 0 = off (every engine's default).
    """

    num_kv_blocks: int
    block_size: int = 16
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    max_model_len: int = 131072
    enable_chunked_prefill: bool = True
    enable_prefix_caching: bool = True
    preemption_mode: PreemptionMode = "recompute"
    scheduling_policy: SchedulingPolicy = "fcfs"
    kv_block_bytes: float = 0.0
    swap_bandwidth_bytes_per_s: float = 25e9
    num_speculative_tokens: int = 0
    tokens_per_step: float = 1.0
    skip_decode_steps: bool = True
    reserve_full_sequence: bool = False
    num_scheduler_steps: int = 1
    local_window_tokens: int = 0
    local_block_weight: int = 0
    attention_dp_ranks: int = 1
    adp_enable_balance: bool = False
    adp_timeout_iters: int = 50
    adp_batching_wait_iters: int = 10
    batch_wait_timeout_iters: int = 0
    batch_wait_max_tokens_ratio: float = 0.0
    mixed_chunk: bool = True
    new_token_ratio: bool = False
    prefill_min_free_kv_frac: float = 0.0
    #: the engine's API-server seconds per request outside the engine loop
    #: (``EngineProfile.frontend_latency_s``): a closed-loop client gets its answer, and
    #: sends its next request, this much after the engine finishes; 0 = not modelled
    frontend_latency_s: float = 0.0

    @property
    def holds_context(self) -> bool:
        """Whether a TensorRT-LLM context-request hold is on."""
        return self.adp_enable_balance or (self.batch_wait_timeout_iters > 0
                                           and self.batch_wait_max_tokens_ratio > 0)

    @property
    def max_prompt_tokens(self) -> int:
        """The longest prompt the engine can take: one step must hold a whole prompt
        without chunked prefill (never preempted under ``reserve_full_sequence``; one
        rank's step under the attention-DP balance)."""
        if self.enable_chunked_prefill:
            return self.max_model_len - 1
        return min(self.max_model_len - 1, self._prompt_step_budget)

    @property
    def idle_rank_prompt_tokens(self) -> int | None:
        """Without chunked prefill, prompts longer than this fit a step only when their
        rank (the replica, without the attention-DP balance) runs no decoder: the step's
        budget less one decoder's tokens. ``None`` with chunked prefill."""
        if self.enable_chunked_prefill:
            return None
        return self._prompt_step_budget - (1 + self.num_speculative_tokens)

    @property
    def _prompt_step_budget(self) -> int:
        """The tokens one prompt's step may use: the replica's budget, or one rank's
        share under the attention-DP balance (each rank admits within its own)."""
        budget = self.max_num_batched_tokens
        if self.adp_enable_balance:
            budget //= self.attention_dp_ranks
        return budget

    def __post_init__(self) -> None:
        for name in ("num_kv_blocks", "block_size", "max_num_seqs", "max_num_batched_tokens",
                     "max_model_len", "num_scheduler_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.prefill_min_free_kv_frac < 1.0:
            raise InputError("prefill_min_free_kv_frac must be in [0, 1), got "
                             f"{self.prefill_min_free_kv_frac!r}")
        check_step_budget(self.max_num_batched_tokens, self.max_num_seqs,
                          self.num_speculative_tokens)
        if (not self.enable_chunked_prefill and not self.reserve_full_sequence
                and self.max_num_batched_tokens < self.max_model_len):
            # greedy admission may preempt a sequence and recompute it as one prompt
            raise InputError(
                f"without chunked prefill max_num_batched_tokens ({self.max_num_batched_tokens})"
                f" must be >= max_model_len ({self.max_model_len}) so every prompt fits a step")
        if self.tokens_per_step < 1.0:
            raise InputError(f"tokens_per_step must be >= 1, got {self.tokens_per_step}")
        if (self.local_block_weight < 0 or self.local_window_tokens < 0
                or (self.local_block_weight > 0) != (self.local_window_tokens > 0)):
            raise InputError("local_window_tokens and local_block_weight go together and "
                             "must be >= 0")
        if self.swap_bandwidth_bytes_per_s <= 0:
            raise InputError("swap bandwidth must be positive")
        check_context_hold(self.attention_dp_ranks, self.adp_timeout_iters,
                           self.adp_batching_wait_iters, self.batch_wait_timeout_iters,
                           self.batch_wait_max_tokens_ratio)
        if self.new_token_ratio and self.reserve_full_sequence:
            raise InputError("new_token_ratio and reserve_full_sequence are two capacity "
                             "policies: pick one")
        if not self.mixed_chunk and (self.num_scheduler_steps > 1 or self.holds_context):
            raise InputError("prefill-first scheduling (mixed_chunk off, SGLang's) does not "
                             "combine with multi-step scheduling or context holds")


def check_context_hold(attention_dp_ranks: int, adp_timeout_iters: int,
                       adp_batching_wait_iters: int, batch_wait_timeout_iters: int,
                       batch_wait_max_tokens_ratio: float, where: str | None = None) -> None:
    """The context-hold options' ranges (TensorRT-LLM's): raises :class:`InputError`."""
    for name, value, low in (("attention_dp_ranks", attention_dp_ranks, 1),
                             ("adp_timeout_iters", adp_timeout_iters, 0),
                             ("adp_batching_wait_iters", adp_batching_wait_iters, 0),
                             ("batch_wait_timeout_iters", batch_wait_timeout_iters, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}",
                             where=where or name)
    if not 0.0 <= batch_wait_max_tokens_ratio <= 1.0:
        raise InputError("batch_wait_max_tokens_ratio must be in [0, 1], got "
                         f"{batch_wait_max_tokens_ratio!r}",
                         where=where or "batch_wait_max_tokens_ratio")
    if (attention_dp_ranks > 1 and batch_wait_timeout_iters > 0
            and batch_wait_max_tokens_ratio > 0):
        raise InputError("batch waiting (batch_wait_timeout_iters) has no effect with "
                         "attention DP in TensorRT-LLM; use the attention-DP balance "
                         "options (adp_enable_balance) instead",
                         where=where or "batch_wait_timeout_iters")
