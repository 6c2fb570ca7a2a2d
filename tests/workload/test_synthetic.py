"""Synthetic workload generator: determinism, stream independence, statistics."""

from __future__ import annotations

import math

import numpy as np

from gputwin.perf.training import ParallelConfig, TrainingConfig
from gputwin.sim import RandomStreams
from gputwin.workload import ArrivalSpec, JobTemplate, arrival_times, generate_synthetic


def template(weight: float = 1.0, model: str = "m", tokens: tuple[float, float] = (1e9, 1e10),
             gpus: tuple[int, ...] = (8, 16)) -> JobTemplate:
    return JobTemplate(weight=weight, kind="finetune", model=model, tenant="t",
                       num_gpus_choices=gpus, tokens_min=tokens[0], tokens_max=tokens[1],
                       parallel=ParallelConfig(), training=TrainingConfig(global_batch_size=8))


POISSON = ArrivalSpec("poisson", 600.0)


def test_same_seed_same_jobs_and_different_seed_differs() -> None:
    a = generate_synthetic(50, POISSON, [template()], RandomStreams(1))
    b = generate_synthetic(50, POISSON, [template()], RandomStreams(1))
    c = generate_synthetic(50, POISSON, [template()], RandomStreams(2))
    assert a == b
    assert a != c


def test_ids_unique_and_submit_times_sorted() -> None:
    jobs = generate_synthetic(200, POISSON, [template()], RandomStreams(3))
    assert len({j.job_id for j in jobs}) == 200
    times = [j.submit_time_s for j in jobs]
    assert times == sorted(times) and times[0] == 0.0


def test_poisson_mean_gap_matches() -> None:
    times = arrival_times(POISSON, 20_000, RandomStreams(0).stream("a"))
    gaps = np.diff(times)
    # mean of 20k exponential gaps: standard error 600/sqrt(20k) ≈ 4.2 s
    assert abs(gaps.mean() - 600.0) < 25.0
    assert abs(gaps.std() - 600.0) < 30.0  # exponential: std == mean


def test_fixed_arrivals_are_equally_spaced() -> None:
    spec = ArrivalSpec("fixed", 60.0, start_s=100.0)
    assert arrival_times(spec, 3, RandomStreams(0).stream("a")) == [100.0, 160.0, 220.0]


def test_template_weights_and_ranges() -> None:
    jobs = generate_synthetic(
        4000, POISSON, [template(weight=3, model="big"), template(weight=1, model="small")],
        RandomStreams(4))
    share = sum(j.model == "big" for j in jobs) / len(jobs)
    assert abs(share - 0.75) < 0.03
    assert {j.num_gpus for j in jobs} == {8, 16}
    tokens = [j.tokens for j in jobs if j.tokens is not None]
    assert min(tokens) >= 1e9 and max(tokens) <= 1e10
    # log-uniform: median near the geometric mean sqrt(1e9 * 1e10)
    assert abs(math.log10(float(np.median(tokens))) - 9.5) < 0.1


def test_changing_token_range_does_not_move_arrivals() -> None:
    a = generate_synthetic(30, POISSON, [template(tokens=(1e9, 1e10))], RandomStreams(5))
    b = generate_synthetic(30, POISSON, [template(tokens=(2e9, 2e9))], RandomStreams(5))
    assert [j.submit_time_s for j in a] == [j.submit_time_s for j in b]
    assert [j.num_gpus for j in a] == [j.num_gpus for j in b]
    assert all(j.tokens == 2e9 for j in b)
