"""SGLang's schedule (``mixed_chunk`` off): prefill batches run apart from decode batches."""

from __future__ import annotations

import random

import pytest
from serving_builders import (
    LinearStepModel,
    engine,
    finish_times,
    requests_from,
    run_fleet,
    ttfts,
)

from gputwin.errors import InputError
from gputwin.serving.histogram import LogHistogram
from gputwin.serving.request import FINISHED


class RecordingModel(LinearStepModel):
    """The linear model, recording each call's (prefill tokens, decoders, seconds)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, float]] = []

    def step_time_s(self, num_prefill_tokens: int, prefill_context_tokens_sum: float,
                    prefill_attn_pairs: float, num_decode_seqs: int,
                    decode_context_tokens_sum: float) -> float:
        t = super().step_time_s(num_prefill_tokens, prefill_context_tokens_sum,
                                prefill_attn_pairs, num_decode_seqs,
                                decode_context_tokens_sum)
        self.calls.append((num_prefill_tokens, num_decode_seqs, t))
        return t


def _rows(seed: int, n: int, rate: float, prompt: int, output: int
          ) -> list[tuple[float, int, int]]:
    rnd = random.Random(seed)
    t, rows = 0.0, []
    for _ in range(n):
        t += rnd.expovariate(rate)
        rows.append((t, rnd.randint(1, prompt), rnd.randint(1, output)))
    return rows


def test_prefill_batches_carry_no_decode_tokens() -> None:
    reqs = requests_from(_rows(1, 120, 20.0, 1500, 200))
    for mixed, expect_mixed_steps in ((False, False), (True, True)):
        model = RecordingModel()
        out = run_fleet(reqs, engine(5000, mixed_chunk=mixed, skip_decode_steps=False),
                        model=model)
        assert all(s.status == FINISHED for s in out.states)
        both = [c for c in model.calls if c[0] > 0 and c[1] > 0]
        assert bool(both) == expect_mixed_steps


def test_a_decoder_sees_one_gap_across_a_burst() -> None:
    # one long decoder, then a burst of four 1000-token prompts (one output token each,
    # so the burst adds no decoder) over a 1024-token budget: four prefill batches
    rows = [(0.0, 64, 400)] + [(0.05, 1000, 1)] * 4
    model = RecordingModel()
    out = run_fleet(requests_from(rows), engine(5000, mixed_chunk=False,
                                                skip_decode_steps=False), model=model)
    assert all(s.status == FINISHED for s in out.states)
    steps = model.calls[1:]  # after the decoder's own prefill
    first = next(i for i, c in enumerate(steps) if c[0] > 0)
    last = max(i for i, c in enumerate(steps) if c[0] > 0)
    assert all(c[1] == 0 for c in steps[first:last + 1])  # the decoder waits throughout
    assert last - first + 1 >= 4
    gap = sum(c[2] for c in steps[first:last + 1]) + steps[last + 1][2]
    itl = out.lives[0].replica.itl
    assert itl.total == pytest.approx(399)  # every decode token of the one decoder
    long = {i: w for i, w in itl.bins.items() if i >= LogHistogram._index(gap / 2)}
    assert long == {LogHistogram._index(gap): pytest.approx(1.0)}  # one gap, whole burst


def test_prefill_first_ttft_is_shorter_under_a_decode_load() -> None:
    # a prompt arriving while 30 requests decode: its prefill batch carries no decoder
    rows = [(0.0, 100, 300)] * 30 + [(0.5, 3000, 10)]
    mixed = run_fleet(requests_from(rows), engine(5000, mixed_chunk=True))
    apart = run_fleet(requests_from(rows), engine(5000, mixed_chunk=False))
    assert ttfts(apart)[-1] < ttfts(mixed)[-1]


@pytest.mark.parametrize(("blocks", "mode", "caching"), [
    (5000, "recompute", True), (120, "recompute", True), (120, "swap", False)])
def test_decode_skipping_stays_exact(blocks: int, mode: str, caching: bool) -> None:
    reqs = requests_from(_rows(3, 300, 15.0, 1500, 300))
    kw = {"preemption_mode": mode, "enable_prefix_caching": caching, "mixed_chunk": False}
    fast = run_fleet(reqs, engine(blocks, **kw))
    slow = run_fleet(reqs, engine(blocks, skip_decode_steps=False, **kw))
    a, b = finish_times(fast), finish_times(slow)
    assert all(x is not None and y is not None for x, y in zip(a, b, strict=True))
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6  # type: ignore[operator]
    assert [s.num_preemptions for s in fast.states] == [s.num_preemptions for s in slow.states]
    assert fast.lives[0].replica.num_steps == slow.lives[0].replica.num_steps
    assert fast.lives[0].replica.tokens_out == slow.lives[0].replica.tokens_out
    hf, hs = fast.lives[0].replica.itl, slow.lives[0].replica.itl
    assert hf.total == pytest.approx(hs.total)
    assert set(hf.bins) <= set(hs.bins) | {i + d for i in hs.bins for d in (-1, 1)}
    assert fast.num_events < slow.num_events  # skipping still skips


def test_prefill_first_refuses_multi_step_and_holds() -> None:
    with pytest.raises(InputError):
        engine(5000, mixed_chunk=False, num_scheduler_steps=4)
    with pytest.raises(InputError):
        engine(5000, mixed_chunk=False, adp_enable_balance=True, attention_dp_ranks=2)


@pytest.mark.parametrize("caching", [True, False])
def test_sglang_admission_stays_exact_with_decode_skipping(caching: bool) -> None:
    # new_token_ratio decays every decode batch: admission is replanned step by step
    # while a request waits, and stretches still skip when none does
    reqs = requests_from(_rows(4, 300, 15.0, 1500, 300))
    kw = {"mixed_chunk": False, "new_token_ratio": True, "enable_prefix_caching": caching}
    fast = run_fleet(reqs, engine(400, **kw))
    slow = run_fleet(reqs, engine(400, skip_decode_steps=False, **kw))
    a, b = finish_times(fast), finish_times(slow)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6  # type: ignore[operator]
    assert fast.lives[0].replica.num_steps == slow.lives[0].replica.num_steps
    assert fast.num_events < slow.num_events


def test_sglang_admission_preempts_less_than_greedy() -> None:
    # a small KV pool under load: greedy admission fills it with prompts and then
    # preempts decoders; SGLang's admission keeps room for the outputs to come, and
    # its KV-peak check (no radix cache, outputs known) never has to retract
    reqs = requests_from(_rows(5, 200, 30.0, 1200, 400))

    def preemptions(**kw: object) -> int:
        out = run_fleet(reqs, engine(300, mixed_chunk=False, **kw))
        assert all(s.status == FINISHED for s in out.states)
        return sum(s.num_preemptions for s in out.states)

    greedy = preemptions()
    ratio = preemptions(new_token_ratio=True)
    peak = preemptions(new_token_ratio=True, enable_prefix_caching=False)
    assert greedy > 0
    assert ratio < greedy
    assert peak == 0


def test_sglang_ratio_room_counts_running_outputs() -> None:
    from gputwin.serving.admission import (
        INIT_NEW_TOKEN_RATIO,
        MIN_NEW_TOKEN_RATIO,
        kv_room_tokens,
        new_token_ratio,
    )
    from gputwin.serving.scheduler import Scheduler

    sched = Scheduler(engine(100, mixed_chunk=False, new_token_ratio=True),
                      lambda req, now: None)
    assert new_token_ratio(sched) == pytest.approx(INIT_NEW_TOKEN_RATIO)
    sched.S = 10_000
    assert new_token_ratio(sched) == pytest.approx(MIN_NEW_TOKEN_RATIO)
    sched.S = 0
    assert kv_room_tokens(sched) == 100 * 16  # nothing running: the whole pool


def test_enable_mixed_chunk_is_an_sglang_option() -> None:
    from pydantic import ValidationError

    from gputwin.scenario.serving_engine import EngineOptions

    assert EngineOptions(name="sglang").resolved().mixed_chunk is False
    assert EngineOptions(name="sglang-0.3").resolved().mixed_chunk is False
    assert EngineOptions(name="sglang", enable_mixed_chunk=True).resolved().mixed_chunk
    assert EngineOptions(name="vllm").resolved().mixed_chunk is True
    assert EngineOptions(name="trtllm").resolved().mixed_chunk is True
    with pytest.raises(ValidationError, match="SGLang option"):
        EngineOptions(name="vllm", enable_mixed_chunk=True)
