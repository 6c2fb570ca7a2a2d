"""End-to-end simulation invariants: no job lost, determinism, accounting, horizon, failures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.run.conftest import with_template_gpus

from gputwin.catalog.loader import default_catalog
from gputwin.errors import DoesNotFitError
from gputwin.run.results import SimulationResult
from gputwin.run.simulate import simulate, simulate_world
from gputwin.run.world import build_world
from gputwin.scenario import Scenario, load_scenario
from gputwin.sim import RandomStreams
from gputwin.training import TrainingRuntime


def _comparable(result: SimulationResult) -> dict[str, object]:
    summary = dict(result.summary)
    summary.pop("wall_time_s")
    return summary


def test_no_job_lost_and_all_complete_without_horizon(small: Scenario) -> None:
    result = simulate(small)
    world_jobs = build_world(small, default_catalog(), RandomStreams(small.seed)).jobs
    assert sorted(j.job_id for j in result.jobs) == sorted(j.job_id for j in world_jobs)
    assert len({j.job_id for j in result.jobs}) == len(world_jobs) == 60
    assert result.summary["jobs_by_status"]["completed"] == 60
    for job in result.jobs:
        assert job.start_time_s is not None and job.end_time_s is not None
        assert job.submit_time_s <= job.start_time_s < job.end_time_s
        assert job.jct_s == pytest.approx((job.wait_time_s or 0) + (job.run_time_s or 0))
    assert result.end_time_s == max(j.end_time_s or 0 for j in result.jobs)


def test_same_seed_same_result_different_seed_differs(small_path: Path) -> None:
    a = simulate(load_scenario(small_path))
    b = simulate(load_scenario(small_path))
    c = simulate(load_scenario(small_path, ["seed=4"]))
    assert _comparable(a) == _comparable(b)
    assert a.jobs == b.jobs and a.timeline == b.timeline
    assert _comparable(a) != _comparable(c)


def test_strict_fifo_starts_in_submit_order(small: Scenario) -> None:
    starts = [j.start_time_s for j in simulate(small).jobs]  # records are in submit order
    assert starts == sorted(starts)  # type: ignore[type-var]


def test_gpu_accounting_matches_the_jobs(small: Scenario) -> None:
    result = simulate(small)
    tl = result.timeline
    assert tl.time_s == sorted(tl.time_s)
    assert all(0 <= g <= result.total_gpus for g in tl.gpus_allocated)
    # GPU-hours from the timeline equal the sum over jobs of GPUs × run time.
    from_jobs = sum(j.num_gpus * (j.run_time_s or 0.0) for j in result.jobs) / 3600
    assert result.summary["gpu_hours"] == pytest.approx(from_jobs, rel=1e-9)
    frac = result.summary["gpu_allocation_mean_frac"]
    assert frac == pytest.approx(from_jobs * 3600 / (result.total_gpus * result.end_time_s))
    assert 0 < frac <= 1


def test_queueing_shows_up(small_path: Path) -> None:
    gap = "workload.synthetic.arrival.mean_interarrival"
    busy = simulate(load_scenario(small_path, [f"{gap}=1min"]))
    idle = simulate(load_scenario(small_path, [f"{gap}=5d"]))
    assert busy.summary["wait_s"]["mean"] > 3600
    assert idle.summary["wait_s"]["max"] == 0.0
    assert max(busy.timeline.queue_length) > 5


def test_horizon_reports_running_queued_and_unsubmitted(small_path: Path) -> None:
    result = simulate(load_scenario(small_path, [
        "horizon=6h", "workload.synthetic.arrival.mean_interarrival=5min"]))
    counts = result.summary["jobs_by_status"]
    assert sum(counts.values()) == 60
    assert counts["running"] > 0 and counts["queued"] > 0
    assert result.end_time_s == 6 * 3600
    for job in result.jobs:
        if job.status == "running":
            assert job.start_time_s is not None and job.end_time_s is None
        if job.status == "queued":
            assert job.start_time_s is None and job.reason
            if job.submit_time_s > 6 * 3600:
                assert "after the horizon" in job.reason
        if job.status == "completed":
            assert job.end_time_s is not None and job.end_time_s <= 6 * 3600


def test_report_tells_unsubmitted_jobs_from_queued_ones(small_path: Path) -> None:
    """Jobs submitted after the horizon count as queued; the report's card says how many."""
    from gputwin.report.html import render_report

    result = simulate(load_scenario(small_path, [
        "horizon=2h", "workload.synthetic.arrival.mean_interarrival=5min"]))
    unsubmitted = sum(1 for j in result.jobs if j.submit_time_s > 2 * 3600)
    assert 0 < unsubmitted <= result.summary["jobs_by_status"]["queued"]
    assert f"{unsubmitted:,} not submitted by the end" in render_report(result)


def test_jobs_larger_than_cluster_fail_with_their_reason_in_the_summary(
        small_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A template whose choices exceed the cluster loads (a sweep over cluster sizes keeps
    running); those jobs fail, and the summary counts them by reason (JSON, text table)."""
    from gputwin.cli.main import main

    sc = load_scenario(small_path, ["workload.synthetic.templates.1.num_gpus=[64, 128]",
                                    "workload.synthetic.templates.1.weight=100"])
    result = simulate(sc)
    reasons = result.summary["failed_by_reason"]
    assert reasons and sum(reasons.values()) == result.summary["jobs_by_status"]["failed"]
    assert all("needs 128 GPUs, the cluster has 64" in r for r in reasons)
    code = main(["simulate", str(small_path), "--outputs", "none",
                 "--set", "workload.synthetic.templates.1.num_gpus=[64, 128]",
                 "--set", "workload.synthetic.templates.1.weight=100"])
    out = capsys.readouterr().out
    assert not code and "failed" in out and "needs 128 GPUs, the cluster has 64" in out


def test_job_larger_than_cluster_fails_with_reason(small_path: Path) -> None:
    """A job larger than the cluster (a trace's; templates are refused at load) fails."""
    sc = with_template_gpus(
        load_scenario(small_path, ["workload.synthetic.templates.1.weight=100"]), 1, 128)
    result = simulate(sc)
    failed = [j for j in result.jobs if j.status == "failed"]
    assert failed and all("needs 128 GPUs, the cluster has 64" in j.reason for j in failed)
    assert len(result.jobs) == 60


def test_memory_failure_ends_job_failed(small: Scenario) -> None:
    """A job the perf model says does not fit ends `failed` with the model's reason."""
    catalog = default_catalog()
    world = build_world(small, catalog, RandomStreams(small.seed))

    def estimator(model, hw, num_gpus, parallel, config, **kw):  # type: ignore[no-untyped-def]
        if num_gpus >= 32:
            raise DoesNotFitError("needs 120 GiB per GPU, has 80 GiB")
        from gputwin.perf.training import estimate_training
        return estimate_training(model, hw, num_gpus, parallel, config, **kw)

    runtime = TrainingRuntime(world.hardware, {"llama3-8b": catalog.model("llama3-8b")},
                              estimator=estimator)
    result = simulate_world(dataclasses.replace(world, runtime=runtime), name="m", seed=1,
                            horizon_s=None)
    big = [j for j in result.jobs if j.num_gpus >= 32]
    assert big and all(j.status == "failed" and "120 GiB" in j.reason for j in big)
    assert all(j.status == "completed" for j in result.jobs if j.num_gpus < 32)


def test_progress_is_reported_up_to_the_end(small: Scenario) -> None:
    seen: list[float] = []
    result = simulate(small, progress=seen.append)
    assert seen and seen == sorted(seen)
    assert seen[-1] == pytest.approx(result.end_time_s)


def test_trace_jobs_run_their_recorded_duration_fifo(tmp_path: Path) -> None:
    """Hand-worked example on one 8-GPU node: A(8 GPUs, 100 s) at t=0 blocks B and C."""
    (tmp_path / "t.csv").write_text(
        "timestamp,duration,num_gpus,gpu_time,cluster\n"
        "2017-10-01 00:00:00,100,8,800,x\n"
        "2017-10-01 00:00:10,50,4,200,x\n"
        "2017-10-01 00:00:20,30,4,120,x\n"
        "2017-10-01 00:00:30,5,16,80,x\n"
    )
    (tmp_path / "s.yaml").write_text(
        "cluster: {system: dgx-h100, num_nodes: 1}\n"
        "workload: {trace: {format: philly_csv, path: t.csv}}\n"
    )
    result = simulate(load_scenario(tmp_path / "s.yaml"))
    got = {j.job_id: (j.status, j.start_time_s, j.end_time_s) for j in result.jobs}
    assert got == {
        "philly-00001": ("completed", 0.0, 100.0),
        "philly-00002": ("completed", 100.0, 150.0),  # waits for A's GPUs
        "philly-00003": ("completed", 100.0, 130.0),  # fits beside B on the same node
        "philly-00004": ("failed", None, 30.0),  # 16 GPUs > 8 in the cluster
    }
    # 800 + 200 + 120 GPU·s over 150 s on 8 GPUs
    assert result.summary["gpu_allocation_mean_frac"] == pytest.approx(1120 / (8 * 150))
    assert result.summary["energy_j"] is None  # trace jobs have no energy model



_NEVER_PLACED = """\
name: never-placed
cluster: {system: dgx-h100, num_nodes: 2}
workload:
  synthetic:
    num_jobs: 3
    arrival: {mean_interarrival: 10min}
    templates:
      - {model: llama3-8b, num_gpus: 8, duration: 1h}
scheduler: {profile: mig}   # places MIG instances only: whole-GPU jobs wait for ever
"""


def test_summary_counts_jobs_still_queued_by_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run that drains with jobs nothing can place says why they wait (the summary's
    queued_by_reason and the text table's `queued` row), not only `3 queued`."""
    from tests.cli_run import run_cli

    path = tmp_path / "s.yaml"
    path.write_text(_NEVER_PLACED)
    result = simulate(load_scenario(path))
    queued = result.summary["queued_by_reason"]
    assert sum(queued.values()) == result.summary["jobs_by_status"]["queued"] == 3
    assert any("no gang placement" in reason for reason in queued)
    code, out, err = run_cli(["simulate", "scenario", str(path), "--outputs", "none"], capsys)
    assert code == 0, err
    assert "queued" in out and "no gang placement" in out
    # JCT and wait say how many jobs they cover (none here), not a bare "-"
    assert "(0 of 3 jobs)" in out
