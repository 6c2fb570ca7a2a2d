"""vLLM V0 multi-step scheduling (``num_scheduler_steps``): arrivals wait for the run."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_builders import engine, requests_from, run_fleet, ttfts

from gputwin.errors import InputError
from gputwin.serving.request import DROPPED, FINISHED

# one long decoder from t = 0; a second request arrives while it decodes
_ROWS = [(0.0, 100, 400), (0.0501, 100, 10)]


def _second_ttft(steps: int) -> float:
    out = run_fleet(requests_from(_ROWS), engine(num_scheduler_steps=steps))
    return ttfts(out)[1]


def test_one_step_is_the_default_scheduler() -> None:
    a = run_fleet(requests_from(_ROWS), engine())
    b = run_fleet(requests_from(_ROWS), engine(num_scheduler_steps=1))
    assert ttfts(a) == ttfts(b)


def test_an_arrival_waits_for_the_end_of_the_run() -> None:
    single = _second_ttft(1)
    step_s = 2.2e-3  # the linear step model's decode step at batch 1 (about 2.05 ms)
    assert single < 2 * step_s + 5e-3  # the next step takes it
    for steps in (4, 10):
        multi = _second_ttft(steps)
        assert multi > single
        assert multi < single + steps * step_s  # at most one run's decode steps longer


def test_ttft_grows_with_the_run_length_on_average() -> None:
    rows = [(0.0, 50, 2000)] + [(0.01 + 0.0137 * i, 50, 5) for i in range(60)]
    mean = {}
    for steps in (1, 8):
        t = ttfts(run_fleet(requests_from(rows), engine(num_scheduler_steps=steps)))[1:]
        mean[steps] = sum(t) / len(t)
    # arrivals uniform over a run wait about half of it (8 steps of ~2.1 ms)
    assert 0.5 * 4 * 2.05e-3 < mean[8] - mean[1] < 1.5 * 4 * 2.2e-3


rows_strategy = st.lists(
    st.tuples(st.floats(0, 2), st.integers(1, 400), st.integers(1, 120)), min_size=1,
    max_size=30).map(lambda rows: sorted(rows))


@settings(max_examples=25, deadline=None)
@given(rows_strategy, st.integers(2, 12), st.integers(12, 120))
def test_every_request_ends_accounted(rows: list[tuple[float, int, int]], steps: int,
                                      blocks: int) -> None:
    out = run_fleet(requests_from(rows), engine(blocks, num_scheduler_steps=steps))
    for s in out.states:
        assert s.status in (FINISHED, DROPPED)
        if s.status == FINISHED:
            assert s.generated == s.output
            assert s.spec.arrival_time_s <= s.first_token_s <= s.finish_s
    rep = out.lives[0].replica
    assert rep.pool.num_used == 0
    assert rep.tokens_out == sum(s.output for s in out.states if s.status == FINISHED)


def test_zero_steps_is_refused() -> None:
    with pytest.raises(InputError, match="num_scheduler_steps"):
        engine(num_scheduler_steps=0)


def test_validation_inputs_take_the_option() -> None:
    from gputwin.run.validate_serve import simulate_case

    base = {"model": "llama3.1-8b", "gpu": "a100-sxm-80gb", "engine": "vllm",
            "poisson": {"rate": 4, "num_requests": 300, "input": 200, "output": 150}}
    one = simulate_case(**base).metrics
    ten = simulate_case(**base, num_scheduler_steps=10).metrics
    assert ten["ttft_s.p50"] > one["ttft_s.p50"] + 2 * one["tpot_s.p50"]
    assert ten["tpot_s.p50"] == pytest.approx(one["tpot_s.p50"], rel=0.1)


def test_an_arrival_after_an_idle_gap_waits_at_most_one_run() -> None:
    # the first request finishes mid-run; the next one, after an idle gap, decodes alone
    # and a third arriving during its first decode steps waits at most one fresh run
    rows = [(0.0, 50, 3), (0.5, 50, 200), (0.5031, 50, 5)]
    single = ttfts(run_fleet(requests_from(rows), engine()))[2]
    multi = ttfts(run_fleet(requests_from(rows), engine(num_scheduler_steps=10)))[2]
    assert single <= multi < single + 10 * 2.2e-3
