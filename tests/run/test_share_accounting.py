"""Partial GPUs inside the simulator: permit waits end on time (wake-ups), GPU-hours and the
allocation timeline count fractional shares and MIG slices, FGD fragmentation metrics and
the Kueue queue table in the summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.run.simulate import simulate_world
from gputwin.run.world import World, build_world
from gputwin.scenario import load_scenario
from gputwin.sim import RandomStreams
from gputwin.workload import JobSpec

SCENARIO = """\
cluster: {system: dgx-h100, num_nodes: NODES, network: {nodes_per_leaf: 2}}
workload: {trace: {format: philly_csv, path: t.csv}}
scheduler: SCHED
"""


def world(tmp_path: Path, jobs: list[JobSpec], sched: str, nodes: int = 1) -> World:
    (tmp_path / "t.csv").write_text("timestamp,duration,num_gpus,gpu_time,cluster\n"
                                    "2017-10-01 00:00:00,1,1,1,x\n")
    (tmp_path / "s.yaml").write_text(SCENARIO.replace("SCHED", sched)
                                     .replace("NODES", str(nodes)))
    built = build_world(load_scenario(tmp_path / "s.yaml"), default_catalog(), RandomStreams(0))
    return dataclasses.replace(built, jobs=sorted(jobs, key=lambda j: j.submit_time_s))


def pod(job_id: str, t: float, dur: float, *, gpus: int = 1, milli: int = 1000,
        mig: str | None = None, tenant: str = "t") -> JobSpec:
    return JobSpec(job_id=job_id, kind="trace", tenant=tenant, model="m", num_gpus=gpus,
                   submit_time_s=t, fixed_duration_s=dur, gpu_milli=milli, mig_profile=mig)


MIG = "{profile: mig, args: {mig: {reconfiguration_time_s: 5}}}"


def test_mig_job_starts_when_its_reconfiguration_ends(tmp_path: Path) -> None:
    # Nothing else happens after t = 0: without a wake-up the job would never start.
    w = world(tmp_path, [pod("m", 0.0, 100.0, mig="3g.40gb")], MIG)
    got = simulate_world(w, name="mig", seed=0, horizon_s=None).jobs[0]
    assert got.status == "completed"
    assert got.start_time_s == pytest.approx(5.0, abs=1e-6)
    assert got.end_time_s == pytest.approx(105.0, abs=1e-6)


def test_gpu_hours_count_fractional_shares(tmp_path: Path) -> None:
    jobs = [pod("a", 0.0, 3600.0, milli=500), pod("b", 0.0, 1800.0, milli=250),
            pod("w", 0.0, 3600.0)]
    result = simulate_world(world(tmp_path, jobs, "{profile: gpu-packing}"), name="f",
                            seed=0, horizon_s=None)
    got = {j.job_id: j for j in result.jobs}
    assert got["a"].gpu_hours == pytest.approx(0.5)
    assert got["b"].gpu_hours == pytest.approx(0.25 * 0.5)
    assert got["w"].gpu_hours == pytest.approx(1.0)
    s = result.summary
    # the allocation timeline counts the same shares: its integral = the jobs' GPU-hours
    assert s["gpu_hours"] == pytest.approx(0.5 + 0.125 + 1.0)
    assert s["gpu_allocation_peak_frac"] == pytest.approx((1.0 + 0.5 + 0.25) / 8)
    assert s["tenants"]["t"]["gpu_hours"] == pytest.approx(1.625)
    # nobody waited: every bounded slowdown is 1 (run time = time held, not GPU-hours / GPUs)
    assert s["bounded_slowdown"]["max"] == pytest.approx(1.0)


def test_gpu_hours_count_mig_compute_slices(tmp_path: Path) -> None:
    sched = "{profile: mig, args: {mig: {reconfiguration_time_s: 0}}}"
    jobs = [pod("m3", 0.0, 3600.0, mig="3g.40gb"), pod("m1", 0.0, 3600.0, mig="1g.10gb")]
    result = simulate_world(world(tmp_path, jobs, sched), name="m", seed=0, horizon_s=None)
    got = {j.job_id: j for j in result.jobs}
    # H100: 7 compute slices; the ledger keeps a slice's share in milli (to 0.0005 GPU)
    assert got["m3"].gpu_hours == pytest.approx(3 / 7, abs=5e-4)
    assert got["m1"].gpu_hours == pytest.approx(1 / 7, abs=5e-4)
    assert result.summary["gpu_hours"] == pytest.approx(4 / 7, abs=1e-3)
