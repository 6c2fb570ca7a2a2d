"""Human formatting and figure-level caps."""

from __future__ import annotations

import pytest
from report_builders import make_job, make_result

from gputwin.report.figures import gpu_hours_figure, jct_cdf_figure, job_times_figure
from gputwin.report.fmt import axis_unit, fmt_duration, fmt_energy, fmt_sim_time, time_axis


@pytest.mark.parametrize("span_s,unit", [
    (30.0, "s"), (600.0, "min"), (5 * 3600.0, "h"), (2 * 86400.0, "h"), (14 * 86400.0, "d"),
])
def test_axis_unit_reads_naturally(span_s: float, unit: str) -> None:
    assert axis_unit(span_s)[0] == unit


def test_sim_time_is_a_day_clock() -> None:
    assert fmt_sim_time(0.0) == "day 0 00:00:00"
    assert fmt_sim_time(86400.0 + 3 * 3600 + 4 * 60 + 5) == "day 1 03:04:05"
    assert fmt_sim_time(None) == "—"


def test_energy_in_mwh_from_joules() -> None:
    assert fmt_energy(3.6e9) == "1.00 MWh"  # 1 MWh = 3.6e9 J
    assert fmt_energy(3.6e12) == "1,000 MWh"
    assert fmt_energy(3.6e6) == "1.0 kWh"
    assert fmt_duration(None) == "—"


def test_time_axis_goes_logarithmic_only_for_wide_positive_spans() -> None:
    scale, axis = time_axis([60.0, 7 * 86400.0], "JCT")
    assert axis["type"] == "log" and scale == 1.0
    assert "1 h" in axis["ticktext"]
    _, axis = time_axis([0.0, 3600.0], "wait")
    assert "type" not in axis


def test_scatter_is_thinned_beyond_its_cap_deterministically() -> None:
    jobs = [make_job(f"j{i}", end=100.0 + i) for i in range(1000)]
    fig, stride = job_times_figure(make_result(jobs), max_points=300)
    assert fig is not None and stride == 4
    assert sum(len(t["x"]) for t in fig["data"]) == 250


def test_cdf_reaches_one_and_is_monotone() -> None:
    jobs = [make_job(f"j{i}", end=60.0 * (1 + (i * 37) % 101)) for i in range(5000)]
    fig = jct_cdf_figure(make_result(jobs), max_points=500)
    assert fig is not None
    (trace,) = fig["data"]
    assert len(trace["x"]) <= 500
    assert trace["y"][-1] == 1.0
    assert trace["x"] == sorted(trace["x"]) and trace["y"] == sorted(trace["y"])


def test_gpu_hours_bars_fold_the_tail_into_other() -> None:
    jobs = [make_job(f"j{i}", tenant=f"t{i:02d}", num_gpus=i + 1, end=3600.0)
            for i in range(20)]
    fig = gpu_hours_figure(make_result(jobs), "tenant", max_bars=5)
    assert fig is not None
    (bars,) = fig["data"]
    assert len(bars["y"]) == 5
    assert bars["y"][0] == "other (16)"  # drawn at the bottom
    assert bars["y"][-1] == "t19"  # the largest on top
    assert sum(bars["x"]) == pytest.approx(sum(range(1, 21)))  # 1 h each, GPUs 1..20
    with pytest.raises(ValueError, match="kind"):
        gpu_hours_figure(make_result(jobs), "model")
