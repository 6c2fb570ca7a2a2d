"""Synthetic LLM arrivals and lengths, and the RAG generator."""

from __future__ import annotations

import numpy as np
import pytest

from gputwin.errors import InputError
from gputwin.sim.rng import RandomStreams
from gputwin.workload.llm_rag import RagSpec, generate_rag_requests
from gputwin.workload.llm_synthetic import (
    ArrivalProcess,
    LengthDist,
    arrival_times,
    generate_requests,
)


@pytest.mark.parametrize("proc", [ArrivalProcess("poisson", 5.0),
                                  ArrivalProcess("gamma", 5.0, cv=3.0),
                                  ArrivalProcess("bursty", 5.0, burst_factor=3.0, on_s=5,
                                                 off_s=10)])
def test_long_run_rate_matches(proc: ArrivalProcess) -> None:
    t = arrival_times(proc, 40000, np.random.default_rng(1))
    assert np.all(np.diff(t) >= 0) and t[0] == 0.0
    assert len(t) / t[-1] == pytest.approx(5.0, rel=0.1)


def test_gamma_cv_is_the_coefficient_of_variation_of_gaps() -> None:
    gaps = np.diff(arrival_times(ArrivalProcess("gamma", 2.0, cv=2.5), 50000,
                                 np.random.default_rng(2)))
    assert gaps.std() / gaps.mean() == pytest.approx(2.5, rel=0.05)


def test_lognormal_fitted_to_mean_and_median() -> None:
    x = LengthDist("lognormal", mean=1000, median=600).draw(np.random.default_rng(3), 200000)
    assert np.median(x) == pytest.approx(600, rel=0.03)
    assert x.mean() == pytest.approx(1000, rel=0.03)


def test_bad_parameters_are_input_errors() -> None:
    with pytest.raises(InputError):
        ArrivalProcess("poisson", 0.0)
    with pytest.raises(InputError):
        LengthDist("lognormal", mean=100, median=200)


def test_same_seed_same_requests_and_streams_are_independent() -> None:
    a = generate_requests(50, ArrivalProcess("poisson", 3.0), LengthDist(value=10),
                          LengthDist(value=5), RandomStreams(7))
    b = generate_requests(50, ArrivalProcess("poisson", 3.0),
                          LengthDist("uniform", low=1, high=99), LengthDist(value=5),
                          RandomStreams(7))
    assert [r.arrival_time_s for r in a] == [r.arrival_time_s for r in b]
    assert a == generate_requests(50, ArrivalProcess("poisson", 3.0), LengthDist(value=10),
                                  LengthDist(value=5), RandomStreams(7))


def test_rag_requests_share_chained_prefixes() -> None:
    spec = RagSpec(num_chunks=20, chunks_per_request=3, chunk_tokens=256, system_tokens=256)
    reqs = generate_rag_requests(200, ArrivalProcess("poisson", 1.0), spec, RandomStreams(1))
    assert all(r.num_prompt_tokens >= 4 * 256 + 16 for r in reqs)
    assert all(len(r.prefix_hashes) == 4 and r.hash_block_tokens == 256 for r in reqs)
    assert len({r.prefix_hashes[0] for r in reqs}) == 1  # same system prompt block
    # chained: equal ids at position i imply equal ids before i
    by_id: dict[int, tuple[int, ...]] = {}
    for r in reqs:
        for i, h in enumerate(r.prefix_hashes):
            assert by_id.setdefault(h, r.prefix_hashes[:i]) == r.prefix_hashes[:i]
    assert all(r.pre_delay_s == spec.retrieval_s for r in reqs)


def test_diurnal_rate_follows_the_day_and_keeps_its_mean() -> None:
    proc = ArrivalProcess("diurnal", 2.0, amplitude_frac=0.8, period_s=86400.0,
                          peak_s=14 * 3600.0)
    t = arrival_times(proc, 4 * 2 * 86400, np.random.default_rng(3))
    assert np.all(np.diff(t) >= 0) and t[0] > 0
    assert len(t) / t[-1] == pytest.approx(2.0, rel=0.05)
    hourly = np.histogram(t % 86400, bins=24, range=(0, 86400))[0] / (t[-1] / 86400) / 3600
    assert hourly[14] == pytest.approx(2.0 * 1.8, rel=0.1)  # the peak
    assert hourly[2] == pytest.approx(2.0 * 0.2, rel=0.25)  # the trough, 12 h later
    assert int(np.argmax(hourly)) in (13, 14) and int(np.argmin(hourly)) in (1, 2)


def test_diurnal_without_amplitude_is_poisson_and_bad_amplitude_refused() -> None:
    t = arrival_times(ArrivalProcess("diurnal", 5.0, amplitude_frac=0.0), 20000,
                      np.random.default_rng(1))
    gaps = np.diff(t)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)
    with pytest.raises(InputError, match="amplitude"):
        ArrivalProcess("diurnal", 1.0, amplitude_frac=1.0)


def test_repeat_sends_each_distinct_prompt_k_times_with_shared_blocks() -> None:
    def make(repeat: int, n: int = 41) -> list:
        return generate_requests(n, ArrivalProcess("poisson", 3.0),
                                 LengthDist("uniform", low=20, high=300), LengthDist(value=5),
                                 RandomStreams(7), repeat=repeat)
    once, twice = make(1), make(2)
    assert all(r.prefix_hashes == () for r in once)
    assert [r.arrival_time_s for r in twice] == [r.arrival_time_s for r in once]
    by_prompt: dict[tuple[int, ...], list] = {}
    for r in twice:
        assert len(r.prefix_hashes) == -(-r.num_prompt_tokens // r.hash_block_tokens)
        by_prompt.setdefault(r.prefix_hashes, []).append(r)
    assert len(by_prompt) == 21  # ceil(41 / 2) distinct prompts, the last sent once
    assert sorted(len(v) for v in by_prompt.values()) == [1] + [2] * 20
    ids = [h for hashes in by_prompt for h in hashes]
    assert len(ids) == len(set(ids))  # distinct prompts share no block
    assert twice == make(2)  # seeded order
    with pytest.raises(InputError, match="repeat"):
        make(0)


def test_a_repeat_beyond_the_request_count_sends_one_prompt() -> None:
    # was: OverflowError from numpy sizing distinct x repeat slots (simulate serve --repeat
    # 99999999999999999999)
    def make(repeat: int) -> list:
        return generate_requests(5, ArrivalProcess("poisson", 3.0),
                                 LengthDist("uniform", low=20, high=300), LengthDist(value=5),
                                 RandomStreams(7), repeat=repeat)
    huge = make(10**20)
    assert len({r.prefix_hashes for r in huge}) == 1
    assert huge == make(5)
