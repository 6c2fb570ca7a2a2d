"""AMD's MLPerf prefill admission (``prefill_min_free_kv_frac``): new prefills only while
that share of the KV blocks is free; decode skipping stays exact with it on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_builders import engine, finish_times, requests_from, run_fleet, ttfts

from gputwin.errors import InputError
from gputwin.serving.request import DROPPED, FINISHED


def test_off_is_the_default_scheduler() -> None:
    rows = [(0.0, 300, 200)] * 40
    a = run_fleet(requests_from(rows), engine(400))
    b = run_fleet(requests_from(rows), engine(400, prefill_min_free_kv_frac=0.0))
    assert finish_times(a) == finish_times(b)


def test_gate_limits_the_batch_and_avoids_preemption() -> None:
    # 40 requests of 300 + 200 tokens (32 blocks each at the end) on 400 blocks: greedy
    # admission fills the pool with prompts and preempts; the gate keeps room free
    rows = [(0.0, 300, 200)] * 40
    greedy = run_fleet(requests_from(rows), engine(400))
    gated = run_fleet(requests_from(rows), engine(400, prefill_min_free_kv_frac=0.5))
    assert greedy.lives[0].replica.num_preemptions > 0
    assert (gated.lives[0].replica.num_preemptions
            < greedy.lives[0].replica.num_preemptions)
    # the first request waits for nothing; later ones wait for room
    assert min(ttfts(gated)) == pytest.approx(min(ttfts(greedy)))


def test_admits_when_nothing_runs() -> None:
    out = run_fleet(requests_from([(0.0, 100, 10)]), engine(40, prefill_min_free_kv_frac=0.9))
    assert out.states[0].status == FINISHED


rows_strategy = st.lists(
    st.tuples(st.floats(0, 2), st.integers(1, 400), st.integers(1, 120)), min_size=1,
    max_size=30).map(lambda rows: sorted(rows))


@settings(max_examples=25, deadline=None)
@given(rows_strategy, st.floats(0.05, 0.9), st.integers(40, 200))
def test_decode_skipping_is_exact_with_the_gate(rows: list[tuple[float, int, int]],
                                                frac: float, blocks: int) -> None:
    kw = {"prefill_min_free_kv_frac": frac}
    fast = run_fleet(requests_from(rows), engine(blocks, **kw))
    slow = run_fleet(requests_from(rows), engine(blocks, skip_decode_steps=False, **kw))
    assert [s.status for s in fast.states] == [s.status for s in slow.states]
    for a, b in zip(finish_times(fast), finish_times(slow), strict=True):
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    for s in fast.states:
        assert s.status in (FINISHED, DROPPED)
    assert fast.lives[0].replica.pool.num_used == 0


def test_out_of_range_is_refused() -> None:
    with pytest.raises(InputError, match="prefill_min_free_kv_frac"):
        engine(prefill_min_free_kv_frac=1.0)


def test_validation_inputs_take_the_option() -> None:
    from gputwin.run.validate_serve import simulate_case

    base = {"model": "llama3.1-8b", "gpu": "a100-sxm-80gb", "engine": "vllm",
            "gpu_memory_utilization": 0.5, "max_num_seqs": 1024,
            "max_num_batched_tokens": 16384,
            "offline": {"num_requests": 1500, "input_tokens": 1000, "output_tokens": 600}}
    off = simulate_case(**base).metrics
    on = simulate_case(**base, prefill_min_free_kv_frac=0.3).metrics
    assert on["output_tokens_per_s"] != off["output_tokens_per_s"]
