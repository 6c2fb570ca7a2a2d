"""TensorRT-LLM's context-request holds (attention-DP balance, batch waiting)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_builders import engine, requests_from, run_fleet, ttfts

from gputwin.errors import InputError
from gputwin.serving.request import DROPPED, FINISHED

STEP_S = 2.2e-3  # the linear step model's decode step at small batches (about 2.05 ms)

# one long decoder from t = 0; a short prompt arrives while it decodes
_ROWS = [(0.0, 100, 400), (0.0501, 100, 10)]


def _wait(**kw: object) -> dict[str, object]:
    return {"batch_wait_timeout_iters": 5, "batch_wait_max_tokens_ratio": 0.9, **kw}


def test_off_by_default() -> None:
    a = run_fleet(requests_from(_ROWS), engine())
    b = run_fleet(requests_from(_ROWS), engine(adp_enable_balance=False,
                                               batch_wait_timeout_iters=0))
    assert ttfts(a) == ttfts(b)


def test_batch_wait_holds_a_prompt_until_the_timeout() -> None:
    off = ttfts(run_fleet(requests_from(_ROWS), engine()))[1]
    on = run_fleet(requests_from(_ROWS), engine(**_wait()))
    held = ttfts(on)[1]
    # held for 5 iterations (the counter reaches the timeout), then it runs
    assert off + 4 * STEP_S < held < off + 6 * STEP_S
    assert on.lives[0].replica.sched.hold.held_steps == 5


def test_batch_wait_releases_once_the_tokens_reach_the_ratio() -> None:
    # ten 100-token prompts at once: 1,000 + 1 tokens >= 0.9 x 1,024, so no wait
    rows = [(0.0, 100, 400)] + [(0.0501, 100, 10)] * 10
    off = ttfts(run_fleet(requests_from(rows), engine()))
    on = run_fleet(requests_from(rows), engine(**_wait(batch_wait_timeout_iters=50)))
    assert ttfts(on) == pytest.approx(off, rel=1e-9)  # step by step vs skipped: rounding
    assert on.lives[0].replica.sched.hold.held_steps == 0


def test_balance_holds_a_lone_rank_until_the_timeout() -> None:
    # two decoders, one per rank; a prompt for one rank alone waits for the counter
    rows = [(0.0, 100, 600), (0.0, 100, 600), (0.0501, 100, 10)]
    kw = {"attention_dp_ranks": 2, "adp_enable_balance": True, "adp_batching_wait_iters": 0}
    off = ttfts(run_fleet(requests_from(rows), engine(attention_dp_ranks=2)))[2]
    for timeout in (10, 40):
        held = ttfts(run_fleet(requests_from(rows), engine(adp_timeout_iters=timeout, **kw)))[2]
        assert off < held <= off + (timeout + 1) * STEP_S


def test_balance_releases_when_every_rank_has_a_prompt() -> None:
    rows = [(0.0, 100, 600), (0.0, 100, 600), (0.0501, 100, 10), (0.0501, 100, 10)]
    kw = {"attention_dp_ranks": 2, "adp_enable_balance": True, "adp_batching_wait_iters": 0,
          "adp_timeout_iters": 1000}
    off = ttfts(run_fleet(requests_from(rows), engine(attention_dp_ranks=2)))
    on = ttfts(run_fleet(requests_from(rows), engine(**kw)))
    assert on[2:] == pytest.approx(off[2:], abs=2 * STEP_S)


def test_balance_admits_each_rank_within_its_share_of_the_budget() -> None:
    # a decoder on rank 0, then three 300-token prompts at once on ranks 1, 0, 1: the
    # pooled 1,024-token step holds all three, rank 1's 512 only one of its two
    rows = [(0.0, 300, 400)] + [(0.0501, 300, 5)] * 3
    kw = {"attention_dp_ranks": 2, "enable_chunked_prefill": False,
          "reserve_full_sequence": True}
    pooled = ttfts(run_fleet(requests_from(rows), engine(**kw)))
    assert pooled[1] == pooled[2] == pooled[3]
    ranked = ttfts(run_fleet(requests_from(rows), engine(adp_enable_balance=True, **kw)))
    assert ranked[1] == ranked[2] < ranked[3]


rows_strategy = st.lists(
    st.tuples(st.floats(0, 1), st.integers(1, 400), st.integers(1, 120)), min_size=1,
    max_size=30).map(lambda rows: sorted(rows))
hold_strategy = st.one_of(
    st.fixed_dictionaries({"attention_dp_ranks": st.integers(1, 4),
                           "adp_enable_balance": st.just(True),
                           "adp_timeout_iters": st.integers(0, 30),
                           "adp_batching_wait_iters": st.integers(0, 5)}),
    st.fixed_dictionaries({"attention_dp_ranks": st.integers(2, 4),
                           "adp_enable_balance": st.just(True),
                           "adp_timeout_iters": st.integers(0, 30),
                           "enable_chunked_prefill": st.just(False),
                           "reserve_full_sequence": st.just(True)}),
    st.fixed_dictionaries({"batch_wait_timeout_iters": st.integers(1, 30),
                           "batch_wait_max_tokens_ratio": st.floats(0.05, 1.0)}))


@settings(max_examples=25, deadline=None)
@given(rows_strategy, hold_strategy, st.integers(12, 120))
def test_no_request_lost_and_skipping_is_step_by_step(
        rows: list[tuple[float, int, int]], hold: dict[str, object], blocks: int) -> None:
    out = run_fleet(requests_from(rows), engine(blocks, **hold))
    ref = run_fleet(requests_from(rows), engine(blocks, skip_decode_steps=False, **hold))
    assert [s.finish_s for s in out.states] == [s.finish_s for s in ref.states]
    assert ttfts(out) == ttfts(ref)
    for s in out.states:
        assert s.status in (FINISHED, DROPPED)
        if s.status == FINISHED:
            assert s.generated == s.output
    rep = out.lives[0].replica
    assert rep.pool.num_used == 0
    assert rep.tokens_out == sum(s.output for s in out.states if s.status == FINISHED)


def test_bad_values_are_refused() -> None:
    with pytest.raises(InputError, match="adp_timeout_iters"):
        engine(adp_timeout_iters=-1)
    with pytest.raises(InputError, match="batch_wait_max_tokens_ratio"):
        engine(batch_wait_max_tokens_ratio=1.5)
    with pytest.raises(InputError, match="attention DP"):
        engine(attention_dp_ranks=2, **_wait())


def test_scenario_refuses_the_options_on_other_engines() -> None:
    from gputwin.run.validate_serve import simulate_case

    with pytest.raises(InputError, match="TensorRT-LLM"):
        simulate_case(model="llama3.1-8b", gpu="h100-sxm-80gb", engine="vllm",
                      adp_enable_balance=True,
                      poisson={"rate": 4, "num_requests": 20, "input": 200, "output": 50})


def test_validation_inputs_take_the_option() -> None:
    from gputwin.run.validate_serve import simulate_case

    base = {"model": "llama3.1-8b", "gpu": "h100-sxm-80gb", "engine": "trtllm",
            "closed": {"concurrency": 32, "num_requests": 200, "input": 200, "output": 150}}
    off = simulate_case(**base).metrics
    on = simulate_case(**base, batch_wait_timeout_iters=20,
                       batch_wait_max_tokens_ratio=0.9).metrics
    assert on["ttft_s.p50"] > off["ttft_s.p50"] + 2 * off["tpot_s.p50"]


_SIMULATE = ["simulate", "serve", "--rate", "5", "--num-requests", "20", "--outputs", "none",
             "-q", "--json", "--no-timing"]


@pytest.mark.parametrize("args, needle", [
    (["--engine", "vllm", "--adp-enable-balance"], "--adp-enable-balance"),
    (["--engine", "trtllm", "--adp-timeout-iters", "-1"], "--adp-timeout-iters"),
    (["--engine", "trtllm", "--batch-wait-max-tokens-ratio", "2"],
     "--batch-wait-max-tokens-ratio"),
])
def test_cli_bad_values_exit_2_naming_the_flag(args: list[str], needle: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from serving_builders import run_main

    assert run_main([*_SIMULATE, *args]) == 2
    assert needle in capsys.readouterr().err


def test_cli_runs_with_the_holds(capsys: pytest.CaptureFixture[str]) -> None:
    from serving_builders import run_main

    assert run_main([*_SIMULATE, "--engine", "trtllm", "--batch-wait-timeout-iters", "20",
                     "--batch-wait-max-tokens-ratio", "0.9"]) == 0
    assert '"finished": 20' in capsys.readouterr().out
