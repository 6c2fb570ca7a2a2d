"""fit_workload: recovers known parameters from synthetic samples; reproduces real traces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gputwin.errors import InputError
from gputwin.perf.training import ParallelConfig
from gputwin.scenario.paths import data_dir
from gputwin.workload.fit import (
    FittedWorkload,
    _Clock,
    fit_gaps,
    fit_workload,
    hourly_rates,
    weibull_shape,
)
from gputwin.workload.job import JobSpec
from gputwin.workload.trace_stats import trace_stats

P = ParallelConfig()


def jobs_from(times: np.ndarray, gpus: np.ndarray, durations: np.ndarray,
              milli: np.ndarray | None = None) -> list[JobSpec]:
    return [JobSpec(job_id=f"j{i}", kind="t", tenant="a", model="m", num_gpus=int(g),
                    submit_time_s=float(t), parallel=P, fixed_duration_s=float(d),
                    gpu_milli=int(milli[i]) if milli is not None else 1000)
            for i, (t, g, d) in enumerate(zip(times, gpus, durations, strict=True))]


def test_weibull_shape_inverts_the_cv() -> None:
    for k in (0.3, 0.7, 1.0, 2.5):
        cv = math.sqrt(math.gamma(1 + 2 / k) / math.gamma(1 + 1 / k) ** 2 - 1)
        assert weibull_shape(cv) == pytest.approx(k, rel=1e-6)


@pytest.mark.parametrize(("family", "draw", "shape"), [
    ("exponential", lambda r: r.exponential(300.0, 20_000), 1.0),
    ("gamma", lambda r: r.gamma(0.3, 1000.0, 20_000), 0.3),
    ("weibull", lambda r: 400.0 * r.weibull(2.0, 20_000), 2.0),
])
def test_gap_family_and_parameters_recovered(family: str, draw: object, shape: float) -> None:
    gaps = draw(np.random.default_rng(7))  # type: ignore[operator]
    fit = fit_gaps(gaps, floor=1e-9)
    assert fit.family == family
    assert fit.shape == pytest.approx(shape, rel=0.05)
    assert fit.mean == pytest.approx(float(np.mean(gaps)), rel=1e-9)


def test_recovers_lognormal_durations_gpu_mix_and_fractions() -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    times = np.cumsum(rng.exponential(60.0, n))
    gpus = rng.choice([1, 2, 8], size=n, p=[0.7, 0.2, 0.1])
    # 1-GPU jobs: median 600 s, sigma 1.5; others: median 7200 s, sigma 1.0
    mu = np.where(gpus == 1, math.log(600.0), math.log(7200.0))
    sigma = np.where(gpus == 1, 1.5, 1.0)
    durations = np.exp(mu + sigma * rng.standard_normal(n))
    milli = np.where((gpus == 1) & (rng.random(n) < 0.4), rng.choice([250, 500], size=n), 1000)
    for method in ("median_mean", "log_moments"):
        fit = fit_workload(jobs_from(times, gpus, durations, milli), duration_method=method)
        one, few, many = (fit.duration_for(g) for g in (1, 2, 8))
        assert one.median_s == pytest.approx(600.0, rel=0.05)
        assert one.sigma == pytest.approx(1.5, rel=0.06)
        assert few.median_s == pytest.approx(7200.0, rel=0.06)
        assert many.sigma == pytest.approx(1.0, rel=0.1)
    assert dict(fit.num_gpus) == pytest.approx({1: 0.7, 2: 0.2, 8: 0.1}, abs=0.01)
    assert fit.fractional_share == pytest.approx(0.4, abs=0.01)
    assert dict(fit.gpu_milli) == pytest.approx({250: 0.5, 500: 0.5}, abs=0.02)
    assert fit.arrival.family == "exponential" and fit.arrival.mean == pytest.approx(60, rel=0.02)


def test_hourly_profile_recovered_and_clock_inverts() -> None:
    rng = np.random.default_rng(11)
    true = np.array([0.5 if 8 <= h < 20 else 0.1 for h in range(24)]) / 60.0  # jobs/s
    clock = _Clock(tuple(true), origin_s_of_day=3 * 3600.0)
    ops = np.cumsum(rng.exponential(1.0, 60_000))
    times = clock.inverse(ops)
    assert clock.forward(times) == pytest.approx(ops, rel=1e-9, abs=1e-6)
    rates = np.array(hourly_rates(times, 3 * 3600.0))
    assert rates == pytest.approx(true, rel=0.1)
    fit = fit_workload(jobs_from(times, np.ones(len(times)), np.full(len(times), 60.0)),
                       origin_s_of_day=3 * 3600.0)
    assert fit.arrival.hourly_rate_per_s is not None
    assert fit.arrival.family == "exponential"  # Poisson within the profile
    sample = fit.sample(20_000, 5)
    hours = ((np.array([j.submit_time_s for j in sample]) + 3 * 3600.0) // 3600 % 24)
    day_share = float(np.mean((hours >= 8) & (hours < 20)))
    assert day_share == pytest.approx(0.5 * 12 / (0.5 * 12 + 0.1 * 12), abs=0.02)


def test_sample_is_deterministic_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    jobs = jobs_from(np.cumsum(rng.exponential(10.0, 500)), rng.choice([1, 4], 500),
                     rng.lognormal(5, 1, 500))
    fit = fit_workload(jobs)
    again = FittedWorkload.from_dict(fit.to_dict())
    assert again == fit
    a, b = fit.sample(50, 9), again.sample(50, 9)
    assert [(j.submit_time_s, j.num_gpus, j.fixed_duration_s) for j in a] == [
        (j.submit_time_s, j.num_gpus, j.fixed_duration_s) for j in b]
    assert a[0].submit_time_s == 0.0 and a[0].job_id == "fit-00001"


def test_fit_rejects_bad_input() -> None:
    one = jobs_from(np.array([0.0]), np.array([1]), np.array([1.0]))
    with pytest.raises(InputError, match="at least 2 jobs"):
        fit_workload(one)
    with pytest.raises(InputError, match="origin_s_of_day"):
        fit_workload(one * 2, diurnal=True)
    with pytest.raises(InputError, match="malformed fitted workload"):
        FittedWorkload.from_dict({"arrival": {}})


DATA = data_dir() / "traces"
PHILLY = DATA / "philly-adaptdl/philly.csv"


@pytest.mark.skipif(not PHILLY.is_file(), reason=f"real Philly trace not present at {PHILLY}")
def test_fitted_generator_reproduces_philly() -> None:
    from gputwin.workload.traces import read_trace

    trace = read_trace("philly_csv", PHILLY)
    real = trace_stats(trace.jobs)
    # published: 93.2 % of the 82,247 jobs are single-GPU (VALIDATION-SOURCES.md)
    assert real["num_jobs"] == 82_247
    assert real["share_by_num_gpus"][1] == pytest.approx(0.932, abs=0.001)
    fit = fit_workload(trace.jobs, origin_s_of_day=trace.origin_s_of_day)
    assert fit.arrival.hourly_rate_per_s is not None  # Philly has a clear diurnal cycle
    assert fit.arrival.cv > 5  # bursty submissions
    for seed in (1, 2):
        synth = trace_stats(fit.sample(real["num_jobs"], seed))
        assert synth["share_by_num_gpus"][1] == pytest.approx(0.932, abs=0.01)
        assert synth["arrival_rate_per_s"] == pytest.approx(real["arrival_rate_per_s"], rel=0.1)
        assert synth["median_duration_s"] == pytest.approx(real["median_duration_s"], rel=0.05)
        # heavy tails + the cap at the longest job: the mean is reproduced within 25 %
        assert synth["mean_duration_s"] == pytest.approx(real["mean_duration_s"], rel=0.25)
        assert synth["gpu_hours"] == pytest.approx(real["gpu_hours"], rel=0.35)
