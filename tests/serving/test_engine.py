"""Replica engine: accounting invariants, skip = step-by-step, preemption, scheduling."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_builders import (
    LinearStepModel,
    engine,
    finish_times,
    requests_from,
    run_fleet,
    ttfts,
)

from gputwin.run.serving_summary import drop_reason_key
from gputwin.serving.fleet import Fleet, PoolSpec, ServiceSpec
from gputwin.serving.request import DROPPED, FINISHED
from gputwin.workload.llm_request import LlmRequest


def _random_rows(seed: int, n: int, rate: float, prompt: int, output: int
                 ) -> list[tuple[float, int, int]]:
    rnd = random.Random(seed)
    t = 0.0
    rows = []
    for _ in range(n):
        t += rnd.expovariate(rate)
        rows.append((t, rnd.randint(1, prompt), rnd.randint(1, output)))
    return rows


rows_strategy = st.lists(
    st.tuples(st.floats(0, 5), st.integers(1, 600), st.integers(1, 200)), min_size=1,
    max_size=40).map(lambda rows: sorted(rows))


@settings(max_examples=40, deadline=None)
@given(rows_strategy, st.integers(8, 200), st.sampled_from(["recompute", "swap"]),
       st.booleans())
def test_every_request_ends_accounted_and_kv_never_over_allocated(
        rows: list[tuple[float, int, int]], blocks: int, mode: str, skip: bool) -> None:
    used_max = 0
    fleet = Fleet([ServiceSpec("default", PoolSpec(
        engine(blocks, preemption_mode=mode, skip_decode_steps=skip), LinearStepModel(), 1,
        1, "round_robin"))], requests_from(rows))

    def check(now: float, _: object) -> None:  # before every event: the state after the last
        nonlocal used_max
        for life in fleet.lives:
            used_max = max(used_max, life.replica.kv_used_blocks_at(now + 1e9))
            life.replica.pool.check()

    fleet.sim.add_observer(check)
    out = fleet.run()
    assert used_max <= blocks
    for s in out.states:
        assert s.status in (FINISHED, DROPPED)
        if s.status == FINISHED:
            assert s.first_token_s is not None and s.finish_s is not None
            assert s.spec.arrival_time_s <= s.first_token_s <= s.finish_s
            assert s.generated == s.output
        else:
            assert "KV blocks" in s.reason or "max_model_len" in s.reason
    rep = out.lives[0].replica
    assert rep.pool.num_used == 0  # everything released at the end
    assert rep.tokens_out == sum(s.output for s in out.states if s.status == FINISHED) \
        + sum(s.num_preemptions * 0 for s in out.states)


@settings(max_examples=40, deadline=None)
@given(rows_strategy, st.integers(16, 200), st.integers(32, 700), st.booleans())
def test_no_evict_without_chunking_ends_every_request(
        rows: list[tuple[float, int, int]], blocks: int, budget: int, skip: bool) -> None:
    # TensorRT-LLM-style admission with a step budget that may be below some prompts: a
    # request runs whole (never preempted, output not cut by the budget) or is dropped
    # with its reason; nothing hangs and every block comes back
    cfg = engine(blocks, max_num_seqs=16, max_num_batched_tokens=budget,
                 enable_chunked_prefill=False, reserve_full_sequence=True,
                 skip_decode_steps=skip)
    out = run_fleet(requests_from(rows), cfg)
    for s in out.states:
        assert s.status in (FINISHED, DROPPED)
        if s.status == FINISHED:
            assert s.spec.num_prompt_tokens <= budget
            assert s.generated == s.output and not s.truncated
            assert s.num_preemptions == 0
        else:
            assert "token budget" in s.reason or "KV blocks" in s.reason
    assert out.lives[0].replica.pool.num_used == 0


@pytest.mark.parametrize(("blocks", "mode", "caching"), [
    (5000, "recompute", True), (120, "recompute", True), (120, "swap", False)])
def test_decode_skipping_matches_step_by_step(blocks: int, mode: str, caching: bool) -> None:
    rows = _random_rows(3, 300, 15.0, 1500, 300)
    reqs = requests_from(rows)
    fast = run_fleet(reqs, engine(blocks, preemption_mode=mode, enable_prefix_caching=caching))
    slow = run_fleet(reqs, engine(blocks, preemption_mode=mode, enable_prefix_caching=caching,
                                  skip_decode_steps=False))
    a, b = finish_times(fast), finish_times(slow)
    assert all(x is not None and y is not None for x, y in zip(a, b, strict=True))
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6  # type: ignore[operator]
    assert [s.num_preemptions for s in fast.states] == [s.num_preemptions for s in slow.states]
    steps_fast = sum(life.replica.num_steps for life in fast.lives)
    steps_slow = sum(life.replica.num_steps for life in slow.lives)
    assert steps_fast == steps_slow
    assert fast.num_events < slow.num_events  # the point of skipping


def test_same_inputs_same_results() -> None:
    reqs = requests_from(_random_rows(5, 200, 20.0, 2000, 200))
    a = run_fleet(reqs, engine(300), replicas=3, router="least_outstanding")
    b = run_fleet(reqs, engine(300), replicas=3, router="least_outstanding")
    assert finish_times(a) == finish_times(b)


def test_kv_exhaustion_preempts_and_more_kv_does_not() -> None:
    reqs = requests_from([(0.0, 200, 400)] * 16)
    small = run_fleet(reqs, engine(150))
    large = run_fleet(reqs, engine(5000))
    assert sum(s.num_preemptions for s in small.states) > 0
    assert sum(s.num_preemptions for s in large.states) == 0
    assert all(s.status == FINISHED for s in small.states)
    # recompute costs time: the constrained replica finishes later
    assert max(finish_times(small)) > max(finish_times(large))  # type: ignore[type-var]


def test_victim_is_the_newest_running_request() -> None:
    reqs = requests_from([(0.0, 100, 300), (0.0, 100, 300), (0.0, 100, 300)])
    out = run_fleet(reqs, engine(30, max_num_seqs=4))
    pre = [s.num_preemptions for s in out.states]
    assert pre[0] == 0 and pre[-1] > 0


def test_prompt_longer_than_max_model_len_is_dropped_with_reason() -> None:
    reqs = requests_from([(0.0, 9000, 10), (0.0, 100, 10)])
    out = run_fleet(reqs, engine(5000))
    assert out.states[0].status == DROPPED and "max_model_len" in out.states[0].reason
    assert out.states[1].status == FINISHED


def test_no_evict_engine_drops_a_prompt_larger_than_its_step_budget() -> None:
    # without chunked prefill a prompt must fit one step; under no-evict admission the
    # budget need not hold the output (nothing is ever recomputed)
    cfg = engine(5000, max_num_batched_tokens=2048, enable_chunked_prefill=False,
                 reserve_full_sequence=True)
    out = run_fleet(requests_from([(0.0, 3000, 10), (0.0, 2000, 4000)]), cfg)
    assert out.states[0].status == DROPPED and "token budget 2048" in out.states[0].reason
    assert drop_reason_key(out.states[0].reason) == (
        "prompt longer than one step's token budget (2048 tokens, no chunked prefill)")
    s = out.states[1]
    assert s.status == FINISHED and not s.truncated and s.output == 4000


def test_output_is_capped_at_max_model_len() -> None:
    out = run_fleet(requests_from([(0.0, 8000, 500)]), engine(5000))
    s = out.states[0]
    assert s.status == FINISHED and s.truncated and s.output == 192


def test_priority_scheduling_serves_urgent_requests_first() -> None:
    # request 0 starts the idle replica at t=0; the rest queue behind it
    reqs = [LlmRequest(i, 0.0 if i == 0 else 0.001, 2000, 50, priority=0 if i % 2 else 1)
            for i in range(20)]
    out = run_fleet(reqs, engine(5000, scheduling_policy="priority", max_num_seqs=4))
    urgent = [s.first_token_s for s in out.states if s.spec.priority == 0]
    other = [s.first_token_s for s in out.states[1:] if s.spec.priority == 1]
    assert max(urgent) < min(other)  # type: ignore[type-var]


def test_ttft_grows_with_prompt_length() -> None:
    short = run_fleet(requests_from([(i * 0.5, 200, 20) for i in range(20)]), engine(5000))
    long = run_fleet(requests_from([(i * 0.5, 4000, 20) for i in range(20)]), engine(5000))
    assert sum(ttfts(long)) > 5 * sum(ttfts(short))


def test_horizon_leaves_requests_in_flight() -> None:
    reqs = requests_from([(0.0, 100, 5000 - 200), (100.0, 10, 10)])
    out = run_fleet(reqs, engine(5000), horizon_s=1.0)
    assert out.end_s == 1.0
    assert out.states[0].status not in (FINISHED, DROPPED)
    assert out.states[1].status not in (FINISHED, DROPPED)


class ConvexStepModel:
    """Decode cost convex but not linear in the context (quadratic term)."""

    def step_time_s(self, num_prefill_tokens: int, prefill_context_tokens_sum: float,
                    prefill_attn_pairs: float, num_decode_seqs: int,
                    decode_context_tokens_sum: float) -> float:
        return (2e-3 + 2e-5 * num_prefill_tokens + 1e-9 * prefill_attn_pairs
                + 5e-5 * num_decode_seqs + 2e-8 * decode_context_tokens_sum
                + 1e-13 * decode_context_tokens_sum ** 2)

    def spec_step_time_s(self, num_decode_seqs: int, decode_context_tokens_sum: float,
                         num_prefill_tokens: int = 0, prefill_context_tokens_sum: float = 0.0,
                         prefill_attn_pairs: float = 0.0) -> float:
        return self.step_time_s(num_prefill_tokens, prefill_context_tokens_sum,
                                prefill_attn_pairs, num_decode_seqs, decode_context_tokens_sum)

    def decode_kink(self, num_decode_seqs: int) -> float:
        return math.inf


def _assert_same(fast: object, slow: object) -> None:
    a, b = finish_times(fast), finish_times(slow)  # type: ignore[arg-type]
    assert all(x is not None and y is not None for x, y in zip(a, b, strict=True))
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6  # type: ignore[operator]
    assert [s.first_token_s for s in fast.states] == pytest.approx(  # type: ignore[attr-defined]
        [s.first_token_s for s in slow.states], rel=1e-9, abs=1e-9)  # type: ignore[attr-defined]
    assert [s.num_preemptions for s in fast.states] == [  # type: ignore[attr-defined]
        s.num_preemptions for s in slow.states]  # type: ignore[attr-defined]
    assert sum(life.replica.num_steps for life in fast.lives) == sum(  # type: ignore[attr-defined]
        life.replica.num_steps for life in slow.lives)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kw", "blocks"), [
    ({"max_num_seqs": 4}, 5000),  # full batch: arrivals queue without cutting stretches
    ({"max_num_seqs": 4, "scheduling_policy": "priority"}, 5000),
    ({"max_num_seqs": 32}, 60),  # KV-blocked queue head (free KV only shrinks in a stretch)
    ({"max_num_seqs": 32, "preemption_mode": "swap"}, 60),
])
def test_blocked_arrivals_do_not_cut_stretches_and_match_step_by_step(
        kw: dict[str, object], blocks: int) -> None:
    rows = _random_rows(7, 200, 40.0, 400, 300)
    reqs = [LlmRequest(i, t, p, o, priority=i % 3) for i, (t, p, o) in enumerate(rows)]
    fast = run_fleet(reqs, engine(blocks, **kw))
    slow = run_fleet(reqs, engine(blocks, skip_decode_steps=False, **kw))
    _assert_same(fast, slow)
    assert fast.num_events < slow.num_events


def test_blocked_queue_skips_the_cut() -> None:
    """With the batch full, a burst of arrivals never cuts the decoders' stretch."""
    early = [(0.0, 50, 400)] * 4
    burst = [(0.1 + 0.01 * i, 50, 5) for i in range(40)]  # all while the 4 decode
    alone = run_fleet(requests_from(early), engine(5000, max_num_seqs=4))
    full = run_fleet(requests_from(early + burst), engine(5000, max_num_seqs=4))
    slow = run_fleet(requests_from(early + burst),
                     engine(5000, max_num_seqs=4, skip_decode_steps=False))
    _assert_same(full, slow)
    # the simultaneous early arrivals may cut each other's segment; the burst cuts nothing
    assert full.lives[0].replica.num_cuts == alone.lives[0].replica.num_cuts
    assert min(s.first_token_s for s in full.states[4:]) > max(  # type: ignore[type-var]
        s.spec.arrival_time_s for s in full.states)


def test_nonlinear_decode_cost_falls_back_and_still_matches() -> None:
    rows = _random_rows(11, 150, 15.0, 1500, 300)
    reqs = requests_from(rows)
    fast = run_fleet(reqs, engine(5000), model=ConvexStepModel())
    slow = run_fleet(reqs, engine(5000, skip_decode_steps=False), model=ConvexStepModel())
    _assert_same(fast, slow)
    rep = fast.lives[0].replica
    assert rep.pricer.lines and all(v is None for v in rep.pricer.lines.values())


@pytest.mark.parametrize("model", ["gpt-oss-20b", "mistral-7b"])
def test_local_attention_bend_is_never_skipped_across(model: str) -> None:
    """Sliding-window layers make the decode cost flatten at n·window context tokens
    (concave there): stretches stop at the bend and the run matches step by step."""
    from serving_builders import real_perf

    reqs = requests_from(_random_rows(5, 150, 10.0, 1500, 300))
    perf = real_perf(model=model, gpu="h100-sxm-80gb")
    assert perf.decode_kink(8) == 8 * perf.shape.attn_window
    fast = run_fleet(reqs, engine(20000, max_num_seqs=64), model=perf)
    slow = run_fleet(reqs, engine(20000, max_num_seqs=64, skip_decode_steps=False),
                     model=perf)
    _assert_same(fast, slow)
    assert fast.num_events < slow.num_events


def test_linear_model_uses_the_verified_cost_line() -> None:
    from serving_builders import real_perf

    reqs = requests_from(_random_rows(5, 150, 10.0, 1500, 300))
    fast = run_fleet(reqs, engine(20000, max_num_seqs=64), model=real_perf())
    slow = run_fleet(reqs, engine(20000, max_num_seqs=64, skip_decode_steps=False),
                     model=real_perf())
    _assert_same(fast, slow)
    lines = fast.lives[0].replica.pricer.lines
    assert lines and all(v is not None for v in lines.values())
    assert not slow.lives[0].replica.pricer.lines  # the reference never uses the shortcut


@pytest.mark.parametrize(("kw", "blocks"), [
    ({}, 5000), ({"preemption_mode": "swap"}, 90), ({"max_num_seqs": 4}, 5000),
    ({"num_speculative_tokens": 2, "tokens_per_step": 2.2}, 5000)])
def test_merged_prefill_and_stretch_segments_match_step_by_step(
        kw: dict[str, object], blocks: int) -> None:
    """A prefill step applied when planned, with the decode stretch after it in the same
    event: same finishes, first tokens, steps and sampled timeline as the reference."""
    from serving_builders import real_perf

    reqs = requests_from(_random_rows(13, 250, 12.0, 900, 250))
    fast = run_fleet(reqs, engine(blocks, **kw), model=real_perf(), sample_interval_s=0.05)
    merges = sum(life.replica.num_merges for life in fast.lives)
    slow = run_fleet(reqs, engine(blocks, skip_decode_steps=False, **kw), model=real_perf(),
                     sample_interval_s=0.05)
    assert merges > 0  # the shortcut is exercised
    _assert_same(fast, slow)
    tf, ts = fast.timelines["default"], slow.timelines["default"]
    assert tf.time_s == ts.time_s
    assert tf.tokens_out == ts.tokens_out
    assert tf.kv_used_frac == ts.kv_used_frac
    assert tf.running == ts.running and tf.waiting == ts.waiting


def test_merged_segments_respect_the_horizon() -> None:
    """Cut by a horizon, the engine state is the reference's: no first token after it."""
    from serving_builders import real_perf

    reqs = requests_from(_random_rows(17, 200, 20.0, 1500, 250))
    for horizon in (1.0, 3.3, 7.77):
        fast = run_fleet(reqs, engine(5000), model=real_perf(), horizon_s=horizon)
        slow = run_fleet(reqs, engine(5000, skip_decode_steps=False), model=real_perf(),
                         horizon_s=horizon)
        assert [s.status for s in fast.states] == [s.status for s in slow.states]
        fast_first = [s.first_token_s for s in fast.states]
        slow_first = [s.first_token_s for s in slow.states]
        # same requests without a first token by the horizon, same times for the others
        assert [t is None for t in fast_first] == [t is None for t in slow_first]
        assert [t for t in fast_first if t is not None] == pytest.approx(
            [t for t in slow_first if t is not None], rel=1e-9, abs=1e-9)
        assert all(t is None or t <= horizon for t in fast_first)
        rf, rs = fast.lives[0].replica, slow.lives[0].replica
        assert rf.tokens_out_at(horizon) == rs.tokens_out_at(horizon)
        assert rf.kv_used_blocks_at(horizon) == rs.kv_used_blocks_at(horizon)
        assert rf.busy_s_at(horizon) == pytest.approx(rs.busy_s_at(horizon), rel=1e-9)
