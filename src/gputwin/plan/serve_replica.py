"""The analytic load model of one serving replica, for the planner (``plan.serve``).

On top of the step-time model the simulator steps (:class:`~gputwin.perf.serving.ServingPerf`):
lone-request latencies (the pruning bounds), the mean step at ``b`` running sequences in
steady-state continuous batching (``perf.serving_load``), the throughput ``b / (output ·
step(b))`` and, by Little's law, the smallest batch that carries a given rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from gputwin.perf.serving import ServingPerf
from gputwin.perf.serving_load import decode_load, prefill_batch_loads, steady_state_mix

BLOCK_SIZE = 16
GPU_MEMORY_UTILIZATION = 0.9
MAX_NUM_BATCHED_TOKENS = 8192


@dataclass(frozen=True, slots=True)
class Traffic:
    """Offered load: mean request rate and token lengths (mean, and the lengths at the SLO
    percentile used by the latency bounds)."""

    rate_per_s: float
    input_tokens: float
    output_tokens: float
    input_tokens_at_pct: int
    input_tokens_min: int
    output_tokens_min: int
    #: a trace's rows its reader left out, as (reason, rows) pairs (hashable; empty if none)
    trace_rows_skipped: tuple[tuple[str, int], ...] = ()


class ReplicaModel:
    """Analytic load/latency of one replica shape, on top of :class:`ServingPerf`."""

    def __init__(self, perf: ServingPerf, traffic: Traffic,
                 steps: dict[tuple[int, int], float] | None = None) -> None:
        """``steps``: a step-time cache to share between replicas that differ only in
        ``max_num_seqs`` (which sizes memory, not steps)."""
        self.perf, self.t = perf, traffic
        cfg = perf.config
        self.chunk = cfg.max_num_batched_tokens
        ctx = int(traffic.input_tokens + traffic.output_tokens / 2)
        cap = perf.memory.max_batch_size_by_memory(ctx, BLOCK_SIZE, GPU_MEMORY_UTILIZATION)
        self.max_batch = min(cfg.max_num_seqs, cap)
        self._steps: dict[tuple[int, int], float] = {} if steps is None else steps

    def fits(self) -> bool:
        one = int(self.t.input_tokens + self.t.output_tokens)
        return self.perf.memory.max_batch_size_by_memory(one, BLOCK_SIZE,
                                                  GPU_MEMORY_UTILIZATION) >= 1

    def prefill_s(self, tokens: int) -> float:
        """One prompt of ``tokens`` alone on an idle replica (chunked)."""
        loads, _ = prefill_batch_loads(1, max(1, tokens), self.chunk)
        return sum(self.perf.step_time_s(ld.num_prefill_tokens, ld.prefill_context_tokens_sum,
                                         ld.prefill_attn_pairs, 0, 0.0) for ld in loads)

    def decode_alone_s(self) -> float:
        """One decode step of one sequence at the shortest context (a TPOT lower bound)."""
        ld = decode_load(1, float(self.t.input_tokens_min))
        return self.perf.step_time_s(0, 0.0, 0.0, 1, ld.decode_context_tokens_sum)

    def step_s(self, batch: int, with_prefill: bool = True) -> float:
        """Mean step at ``batch`` running sequences (continuous batching; decode only for a
        disaggregated decode replica)."""
        key = (batch, int(with_prefill))
        t = self._steps.get(key)
        if t is None:
            inp, out = int(self.t.input_tokens), max(1, int(self.t.output_tokens))
            mix = (steady_state_mix(batch, inp, out, 1.0,
                                    self.perf.config.max_num_batched_tokens)
                   if with_prefill else [(decode_load(batch, inp + out / 2.0), 1.0)])
            t = sum(share * self.perf.step_time_s(
                ld.num_prefill_tokens, ld.prefill_context_tokens_sum, ld.prefill_attn_pairs,
                ld.num_decode_seqs, ld.decode_context_tokens_sum) for ld, share in mix)
            self._steps[key] = t
        return t

    def rate_at(self, batch: int, with_prefill: bool = True) -> float:
        """Requests per second one replica finishes at ``batch`` running sequences."""
        return batch / (max(1.0, self.t.output_tokens) * self.step_s(batch, with_prefill))

    def operating_batch(self, rate_per_s: float, with_prefill: bool = True) -> int | None:
        """Smallest batch whose throughput carries ``rate_per_s`` (None: beyond capacity)."""
        if self.max_batch < 1 or self.rate_at(self.max_batch, with_prefill) < rate_per_s:
            return None
        lo, hi = 1, self.max_batch
        while lo < hi:
            mid = (lo + hi) // 2
            if self.rate_at(mid, with_prefill) >= rate_per_s:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def prefill_rate(self) -> float:
        """Requests per second a prefill-only replica finishes (full chunks)."""
        inp = max(1, int(self.t.input_tokens))
        loads, done = prefill_batch_loads(max(1, self.chunk // inp) + 1, inp, self.chunk)
        total = sum(self.perf.step_time_s(ld.num_prefill_tokens, ld.prefill_context_tokens_sum,
                                          ld.prefill_attn_pairs, 0, 0.0) for ld in loads)
        return len(done) / total

    def mixed_step_s(self, batch: int) -> float:
        """A step of ``batch`` decodes plus a full chunk of one new prompt."""
        t = self._steps.get((batch, 2))
        if t is None:
            inp = max(1, int(self.t.input_tokens))
            new = max(1, min(inp, self.chunk - batch))
            ctx = batch * (self.t.input_tokens + self.t.output_tokens / 2.0)
            t = self.perf.step_time_s(new, 0.0, new * new / 2.0, batch, ctx)
            self._steps[(batch, 2)] = t
        return t
