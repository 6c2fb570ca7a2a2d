"""The ITL histogram leaves warm-up requests out on every path that feeds it: decode
steps, decode-only stretches and merged segments (mixed batches), SGLang's prefill-first
gaps (:mod:`gputwin.serving.prefill_pause`), preemption by recompute and swap, and a
disaggregated service's decode pool. The engine weights each feed by the scheduler's
measured decoders (``n_measured``), kept beside ``n_dec`` wherever a decoder joins or
leaves."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import replace

import pytest
from serving_builders import LinearStepModel, engine, requests_from

from gputwin.serving.config import EngineConfig
from gputwin.serving.fleet import Fleet, FleetOutcome, PoolSpec, ServiceSpec
from gputwin.serving.histogram import LogHistogram
from gputwin.serving.request import FINISHED
from gputwin.workload.llm_request import LlmRequest

N = 240

PATHS: dict[str, EngineConfig] = {
    "mixed, decode skipping": engine(5000),
    "mixed, step by step": engine(5000, skip_decode_steps=False),
    "prefill first": engine(5000, mixed_chunk=False),
    "prefill first, step by step": engine(5000, mixed_chunk=False, skip_decode_steps=False),
}
PREEMPTING: dict[str, EngineConfig] = {
    "recompute": engine(150),
    "swap": engine(150, preemption_mode="swap", enable_prefix_caching=False),
    "prefill first, recompute": engine(150, mixed_chunk=False),
}


def _requests(seed: int = 7) -> list[LlmRequest]:
    rnd = random.Random(seed)
    t, rows = 0.0, []
    for _ in range(N):
        t += rnd.expovariate(25.0)
        rows.append((t, rnd.randint(50, 1500), rnd.randint(1, 250)))
    return requests_from(rows)


def _labelled(reqs: Sequence[LlmRequest], warm: Collection[int]) -> list[LlmRequest]:
    return [replace(r, warmup=r.request_id in warm) for r in reqs]


def _run(reqs: Sequence[LlmRequest], cfg: EngineConfig | None,
         disaggregated: bool = False) -> FleetOutcome:
    if disaggregated:
        pre = PoolSpec(engine(4000), LinearStepModel(), 1, 1)
        dec = PoolSpec(engine(4000, max_num_seqs=64), LinearStepModel(), 1, 1)
        svc = ServiceSpec("default", dec, prefill_pool=pre, kv_transfer_s=lambda _: 0.004)
    else:
        assert cfg is not None
        svc = ServiceSpec("default", PoolSpec(cfg, LinearStepModel(), 1, 1, "round_robin"))
    out = Fleet([svc], reqs).run()
    assert all(s.status == FINISHED for s in out.states)
    return out


def _measured_gaps(out: FleetOutcome) -> int:
    """Every measured request's tokens after its first: one gap each."""
    return sum(s.output - 1 for s in out.states if not s.spec.warmup)


def _assert_splits(whole: LogHistogram, a: LogHistogram, b: LogHistogram) -> None:
    """``a`` and ``b`` (complementary warm-up labels) add up to ``whole`` bin by bin."""
    assert a.total + b.total == pytest.approx(whole.total, rel=1e-9)
    assert set(a.bins) | set(b.bins) == set(whole.bins)
    for i, w in whole.bins.items():
        assert a.bins.get(i, 0.0) + b.bins.get(i, 0.0) == pytest.approx(w, rel=1e-9), i


@pytest.mark.parametrize("path", [*PATHS, *PREEMPTING, "disaggregated"])
def test_itl_counts_each_measured_token_once_and_no_warmup_token(path: str) -> None:
    """One gap per measured token after the first, on every path: a token a prefill chunk
    emits after a stall (a preempted request's resume by recompute or swap-in, the decode
    pool's first token after a disaggregated hand-off) counts its gap from the request's
    previous token, stall included (it was missing: one gap per resume or hand-off)."""
    reqs = _requests()
    warm = set(range(N // 2))
    out = _run(_labelled(reqs, warm), PATHS.get(path) or PREEMPTING.get(path),
               path == "disaggregated")
    if path in PREEMPTING:
        assert sum(s.num_preemptions for s in out.states if not s.spec.warmup) > 0
    itl = out.itl["default"]
    assert itl.total == pytest.approx(_measured_gaps(out), rel=1e-9)
    assert 0 < itl.total < sum(s.output - 1 for s in out.states)


@pytest.mark.parametrize("path", [*PREEMPTING, "disaggregated"])
def test_the_itl_mean_is_the_token_weighted_tpot_through_stalls(path: str) -> None:
    """A request's gaps sum to ``tpot x (output - 1)``, stalls included, so the ITL mean over
    all measured tokens is the token-weighted TPOT; with the resume and hand-off gaps left
    out it read short."""
    out = _run(_requests(), PREEMPTING.get(path), path == "disaggregated")
    done = [s for s in out.states if s.output >= 2]
    weights = [s.output - 1 for s in done]
    gaps_s = sum((s.finish_s - s.first_token_s) for s in done)  # type: ignore[operator]
    itl = out.itl["default"]
    assert itl.total == pytest.approx(sum(weights), rel=1e-9)
    assert itl.mean() == pytest.approx(gaps_s / sum(weights), rel=0.02)


@pytest.mark.parametrize("path", [*PATHS, *PREEMPTING, "disaggregated"])
def test_warmup_and_measured_itl_add_up_to_the_unlabelled_run(path: str) -> None:
    """The label changes nothing in the simulation, so the gaps of a warm-up set and of
    its complement partition the run's: each request's gaps go to exactly one side
    (preemption included, where a resumed request's gaps are not simply ``output - 1``)."""
    cfg = PATHS.get(path) or PREEMPTING.get(path)
    split = path == "disaggregated"
    reqs = _requests()
    first = set(range(N // 3))
    rest = set(range(N)) - first
    whole = _run(reqs, cfg, split)
    if path in PREEMPTING:
        assert sum(s.num_preemptions for s in whole.states) > 0
    a = _run(_labelled(reqs, first), cfg, split)
    b = _run(_labelled(reqs, rest), cfg, split)
    assert [s.finish_s for s in a.states] == [s.finish_s for s in whole.states]
    _assert_splits(whole.itl["default"], a.itl["default"], b.itl["default"])


@pytest.mark.parametrize("path", [*PATHS, *PREEMPTING, "disaggregated"])
def test_the_itl_values_sum_to_every_requests_token_span(path: str) -> None:
    """Exactly, not to the histogram's bin width: the gaps the engine feeds the ITL
    histogram (single steps, uniform spreads over decode stretches and merged segments,
    prefill-first waits, resumes after preemption, hand-offs) add up, in its exact
    ``sum_s``, to the sum over requests of last token minus first token. A gap fed twice,
    left out or started at the wrong time breaks the equality (the mean test above allows
    2 % for the binning)."""
    out = _run(_requests(), PATHS.get(path) or PREEMPTING.get(path), path == "disaggregated")
    spans = sum(s.finish_s - s.first_token_s for s in out.states  # type: ignore[operator]
                if s.output >= 2)
    assert out.itl["default"].sum_s == pytest.approx(spans, rel=1e-12)
