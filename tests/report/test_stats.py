"""Key figures and step-function statistics."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from report_builders import make_job, make_result, synthetic_result

from gputwin.report.stats import (
    gpu_hours_by,
    job_gpu_seconds,
    key_figures,
    percentile,
    step_integral,
    step_mean,
)
from gputwin.run.results import Timeline

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=50), st.floats(min_value=0, max_value=100))
def test_percentile_matches_numpy_linear_definition(values: list[float], q: float) -> None:
    got = percentile(values, q)
    assert got is not None
    assert math.isclose(got, float(np.percentile(values, q)), rel_tol=1e-9, abs_tol=1e-6)


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 95) is None


def test_step_integral_of_constant_is_value_times_duration() -> None:
    assert step_integral([10.0, 20.0, 30.0], [4, 4, 4], 110.0) == 4 * 100.0


def test_step_integral_holds_each_value_until_next_sample_and_clips_at_end() -> None:
    # 2 on [0, 10), 5 on [10, 15): samples after the end are ignored.
    assert step_integral([0.0, 10.0, 20.0], [2, 5, 100], 15.0) == 2 * 10 + 5 * 5


@given(st.lists(st.tuples(st.floats(0, 1e5), st.integers(0, 1000)), min_size=1, max_size=40),
       st.floats(1.0, 1e5))
def test_step_mean_lies_between_min_and_max(samples: list[tuple[float, int]],
                                            extra: float) -> None:
    samples.sort()
    t = [s[0] for s in samples]
    v = [s[1] for s in samples]
    m = step_mean(t, v, t[-1] + extra)
    assert m is not None
    assert min(v) - 1e-9 <= m <= max(v) + 1e-9


def test_step_mean_undefined_for_zero_length_window() -> None:
    assert step_mean([], [], 10.0) is None
    assert step_mean([5.0], [3], 5.0) is None


def test_key_figures_counts_and_jct_by_definition() -> None:
    # 21 completed jobs with JCT 1..21 h: mean 11 h; p95 sits exactly on rank 19 -> 20 h.
    jobs = [make_job(f"c{k}", submit=0.0, start=0.0, end=k * 3600.0) for k in range(1, 22)]
    jobs += [make_job("f", status="failed", start=0.0, end=60.0, reason="boom"),
             make_job("r", status="running", start=600.0, end=None),
             make_job("q", status="queued", start=None, end=None)]
    k = key_figures(make_result(jobs, end_time_s=30 * 3600.0))
    assert k.status_counts == {"completed": 21, "failed": 1, "running": 1, "queued": 1}
    assert k.mean_jct_s == 11 * 3600.0
    assert k.p95_jct_s == 20 * 3600.0
    # Waits: 23 started jobs, all zero except the running one (600 s).
    assert k.num_started == 23
    assert k.mean_wait_s is not None and math.isclose(k.mean_wait_s, 600.0 / 23)


def test_key_figures_of_empty_run_are_undefined_not_zero() -> None:
    k = key_figures(make_result())
    assert k.num_jobs == 0
    assert k.mean_jct_s is None and k.p95_jct_s is None and k.mean_wait_s is None
    assert k.peak_allocated_frac is None
    assert k.gpu_hours == 0.0
    assert k.energy_j is None


def test_allocation_fraction_from_timeline() -> None:
    # 64 GPUs: 32 allocated for the first hour, 64 for the second -> mean 75 %, peak 100 %.
    tl = Timeline(time_s=[0.0, 3600.0], gpus_allocated=[32, 64], queue_length=[0, 0],
                  running_jobs=[1, 2])
    k = key_figures(make_result(timeline=tl, total_gpus=64, end_time_s=7200.0))
    assert k.mean_allocated_frac == 0.75
    assert k.peak_allocated_frac == 1.0
    assert k.gpu_hours == 32 + 64


def test_energy_prefers_summary_then_sums_jobs() -> None:
    jobs = [make_job("a", energy_j=1e9), make_job("b", energy_j=2e9), make_job("c")]
    assert key_figures(make_result(jobs)).energy_j == 3e9
    assert key_figures(make_result(jobs, summary={"energy_j": 5e9})).energy_j == 5e9


def test_running_jobs_are_charged_up_to_the_horizon() -> None:
    job = make_job(num_gpus=8, start=1000.0, end=None, status="running")
    assert job_gpu_seconds(job, 4600.0) == 8 * 3600.0
    assert job_gpu_seconds(make_job(start=None, end=None, status="queued"), 1e6) == 0.0


def test_gpu_hours_from_jobs_match_the_timeline_integral() -> None:
    # The synthetic run's timeline is the exact sum of its jobs: two views must agree.
    result = synthetic_result(200, total_gpus=512, horizon_s=7 * 86400.0)
    by_kind = gpu_hours_by(result.jobs, lambda j: j.kind, result.end_time_s)
    by_tenant = gpu_hours_by(result.jobs, lambda j: j.tenant, result.end_time_s)
    from_timeline = key_figures(result).gpu_hours
    assert math.isclose(sum(h for _, h in by_kind), from_timeline, rel_tol=1e-9)
    assert math.isclose(sum(h for _, h in by_tenant), from_timeline, rel_tol=1e-9)
    assert [h for _, h in by_kind] == sorted((h for _, h in by_kind), reverse=True)
