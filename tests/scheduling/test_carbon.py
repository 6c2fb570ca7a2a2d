"""Carbon-aware plugins on a square-wave grid (HIGH hours 0-11, LOW hours 12-23 each day):
start times follow from the rules by hand; no job is lost or started past its deadline
unless forced (and then it is reported); runs are deterministic."""

from __future__ import annotations

import pytest
from tests.scheduling.test_carbon_builders import HOUR, grids, job, plugin, run, scenario

from gputwin.catalog.loader import default_catalog
from gputwin.perf.power import (
    apply_power_cap,
    default_power_coefficients,
    training_activity_frac,
)

__all__ = ["grids"]


def _rec(result, job_id):  # type: ignore[no-untyped-def]
    return next(j for j in result.jobs if j.job_id == job_id)


def test_threshold_waits_for_a_low_hour_and_forces_at_the_deadline(grids) -> None:  # type: ignore[no-untyped-def]
    jobs = [job("flex", 1, 3, slack_h=24), job("short-slack", 1, 3, slack_h=5),
            job("rigid", 1, 3)]
    sc = scenario("carbon-threshold", {"carbon-threshold": {"threshold_g_per_kwh": 300}})
    world, result = run(sc, jobs)
    assert _rec(result, "flex").start_time_s == pytest.approx(12 * HOUR)  # first LOW hour
    assert _rec(result, "rigid").start_time_s == pytest.approx(1 * HOUR)  # not deferrable
    assert _rec(result, "short-slack").start_time_s == pytest.approx(6 * HOUR)  # deadline
    stats = plugin(world, "pre-filter/carbon-threshold").stats()
    assert stats["forced"] == 1 and stats["late"] == 0
    assert all(j.status == "completed" for j in result.jobs)


def test_percentile_rule_starts_in_the_cleaner_half(grids) -> None:  # type: ignore[no-untyped-def]
    sc = scenario("carbon-threshold", {"carbon-threshold": {"percentile": 30}})
    _, result = run(sc, [job("a", 2, 2, slack_h=30)])
    assert _rec(result, "a").start_time_s == pytest.approx(12 * HOUR)


def test_window_plans_the_lowest_emission_start(grids) -> None:  # type: ignore[no-untyped-def]
    sc = scenario("carbon-window")
    _, result = run(sc, [job("a", 1, 4, slack_h=24), job("b", 13, 4, slack_h=24)])
    assert _rec(result, "a").start_time_s == pytest.approx(12 * HOUR)
    assert _rec(result, "b").start_time_s == pytest.approx(13 * HOUR)  # already clean
    # slack counts to the finish: must end by 1 + 13 = 14 h, so the start is <= 10 h and
    # the best window [10, 14] has two LOW hours.
    fin = scenario("carbon-window", {"carbon-window": {"slack_counts": "finish"}})
    _, result = run(fin, [job("c", 1, 4, slack_h=13)])
    assert _rec(result, "c").start_time_s == pytest.approx(10 * HOUR)
    assert _rec(result, "c").end_time_s <= (1 + 13) * HOUR + 1e-6


def test_window_with_noisy_forecast_is_deterministic_per_seed(grids) -> None:  # type: ignore[no-untyped-def]
    jobs = [job(f"j{i}", 0.7 * i, 2 + i % 3, slack_h=20) for i in range(20)]
    starts = []
    for seed in (1, 1, 2):
        sc = scenario("carbon-window", {"carbon-window": {"forecast": "noisy", "seed": seed,
                                                         "forecast_error_per_day": 0.5}},
                      num_nodes=32)
        _, result = run(sc, jobs)
        assert all(j.status == "completed" for j in result.jobs)
        for r, spec in zip(result.jobs, sorted(jobs, key=lambda j: j.submit_time_s), strict=True):
            assert r.start_time_s is not None
            assert r.start_time_s <= spec.submit_time_s + (spec.deferrable_slack_s or 0) + 1e-6
        starts.append([r.start_time_s for r in result.jobs])
    assert starts[0] == starts[1]


def test_suspend_pauses_at_high_hours_and_loses_no_work(grids) -> None:  # type: ignore[no-untyped-def]
    sc = scenario("carbon-suspend", {"carbon-suspend": {"threshold_g_per_kwh": 300}})
    world, result = run(sc, [job("long", 12, 16, slack_h=24, interruptible=True),
                             job("fixed", 12, 16, slack_h=24)])
    rec = _rec(result, "long")
    assert rec.preemptions == 1 and rec.lost_gpu_hours == pytest.approx(0.0)
    # ran 12-24 h, suspended 24-36 h (HIGH), 4 h left from 36 h
    assert rec.end_time_s == pytest.approx(40 * HOUR)
    assert rec.gpu_hours == pytest.approx(16 * 8)
    other = _rec(result, "fixed")  # not interruptible: runs through
    assert other.preemptions == 0 and other.end_time_s == pytest.approx(28 * HOUR)
    assert plugin(world, "pre-filter/carbon-suspend").stats()["suspensions"] == 1


def test_suspension_respects_the_deadline(grids) -> None:  # type: ignore[no-untyped-def]
    sc = scenario("carbon-suspend", {"carbon-suspend": {"threshold_g_per_kwh": 300}})
    world, result = run(sc, [job("tight", 12, 16, slack_h=2, interruptible=True),
                             job("tighter", 12, 16, slack_h=0.5, interruptible=True)])
    tight = _rec(result, "tight")  # off at 24 h, forced back at 26 h: ends at 12+16+2
    assert tight.preemptions == 1 and tight.end_time_s == pytest.approx(30 * HOUR)
    tighter = _rec(result, "tighter")  # 0.5 h < min_suspend_s: never suspended
    assert tighter.preemptions == 0 and tighter.end_time_s == pytest.approx(28 * HOUR)
    assert plugin(world, "pre-filter/carbon-suspend").stats()["forced"] == 1


def _capped_throughput(frac_of_tdp: float, compute_frac: float) -> float:
    acc = default_catalog().accelerator("h100-sxm-80gb")
    activity = training_activity_frac(compute_frac, default_power_coefficients().wait_activity_frac)
    return apply_power_cap(acc, activity, frac_of_tdp * acc.tdp_w,
                           compute_bound_frac=compute_frac).throughput_frac


def test_power_cap_recomputes_the_remaining_time(grids) -> None:  # type: ignore[no-untyped-def]
    args = {"carbon-power-cap": {"threshold_g_per_kwh": 300, "cap_frac_of_tdp": 0.5,
                                 "compute_bound_frac": 0.9}}
    thr = _capped_throughput(0.5, 0.9)
    assert 0.5 < thr < 1.0
    _, result = run(scenario("carbon-cap", args), [job("a", 8, 10), job("b", 12, 3)])
    a = _rec(result, "a")  # 4 h capped (8-12 h), then full speed for what is left
    assert a.end_time_s == pytest.approx(12 * HOUR + (10 - 4 * thr) * HOUR)
    assert _rec(result, "b").end_time_s == pytest.approx(15 * HOUR)  # LOW: never capped
    _, base = run(scenario("best-effort"), [job("a", 8, 10)])
    assert _rec(base, "a").end_time_s == pytest.approx(18 * HOUR)


def test_spatial_moves_to_the_clean_region_after_the_transfer(grids) -> None:  # type: ignore[no-untyped-def]
    args = {"carbon-spatial": {"regions": [{"name": "SG", "nodes": 2},
                                           {"name": "CA-ON", "nodes": 2}],
                               "wan_bandwidth": "8Gbps", "egress_usd_per_gb": 0.05}}
    jobs = [job("move", 1, 2, data_bytes=3.6e12, region="SG"),  # 3.6 TB at 1 GB/s: 1 h
            job("local", 1, 2, data_bytes=1e12, region="CA-ON")]
    world, result = run(scenario("carbon-spatial", args), jobs)
    move, local = _rec(result, "move"), _rec(result, "local")
    assert move.start_time_s == pytest.approx(2 * HOUR)  # waited for its data
    assert local.start_time_s == pytest.approx(1 * HOUR)
    spatial = plugin(world, "pre-filter/carbon-spatial")
    assert spatial.stats()["moves"] == 1
    assert spatial.stats()["egress_usd"] == pytest.approx(3600 * 0.05)
    layout_region = spatial.node_region
    assert move.num_nodes == 1 and layout_region[2] == "CA-ON"


def test_every_carbon_profile_keeps_every_job(grids) -> None:  # type: ignore[no-untyped-def]
    jobs = [job(f"j{i:02d}", 0.9 * i, 1 + i % 5, gpus=8 * (1 + i % 2),
                slack_h=None if i % 4 == 0 else 6 + i % 12, interruptible=i % 3 == 0)
            for i in range(40)]
    for profile in ("carbon-threshold", "carbon-window", "carbon-suspend", "carbon-cap",
                    "carbon-spatial"):
        a = run(scenario(profile, num_nodes=3), jobs)[1]
        b = run(scenario(profile, num_nodes=3), jobs)[1]
        assert sorted(j.job_id for j in a.jobs) == sorted(j.job_id for j in jobs), profile
        assert all(j.status == "completed" for j in a.jobs), profile
        assert a.jobs == b.jobs, profile


def test_a_job_longer_than_the_grid_profile_is_ranked_on_one_period() -> None:
    """The profile repeats after a year of hours: a runtime or a deadline of 1e20 s used to
    ask the forecast for ~10^16 hourly values (an ArrayMemoryError traceback from a job of
    hostile size); starts are now ranked on one period of the run, the same ranking a
    one-period job gets."""
    import numpy as np

    from gputwin.energy.grid import GridSeries, PerfectForecast
    from gputwin.scheduling.plugins.carbon_grid import forecast_costs

    series = GridSeries(np.array([100.0, 400.0] * 12 * 365) / 3.6e6, name="day-night")
    period_s = series.values.size * series.step_s
    forecast = PerfectForecast(series)
    starts, costs = forecast_costs(forecast, series, 5.0, 1e20, 1e20)
    assert starts.max() <= 5.0 + period_s and np.isfinite(costs).all()
    ref_starts, ref_costs = forecast_costs(forecast, series, 5.0, 5.0 + period_s, period_s)
    assert np.array_equal(starts, ref_starts) and np.allclose(costs, ref_costs)


def test_a_threshold_over_an_endless_window_reads_one_period_of_forecast() -> None:
    """The percentile rule over a window of 1e20 s used to ask for that many hourly values;
    it reads one period of the profile, whose percentile is the same for any longer window
    of a repeating profile."""
    from tests.scheduling.test_carbon_builders import world_with

    world = world_with(scenario("carbon-threshold"), [job("a", 1, 3, slack_h=24)])
    rule = plugin(world, "pre-filter/carbon-threshold")
    period_s = rule.series.values.size * rule.series.step_s
    assert rule.threshold_g_per_j(0.0, 1e20) == rule.threshold_g_per_j(0.0, period_s)
