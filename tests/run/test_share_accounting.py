"""Partial GPUs inside the simulator: permit waits end on time (wake-ups), GPU-hours and the
allocation timeline count fractional shares and MIG slices, FGD fragmentation metrics and
the Kueue queue table in the summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.run.simulate import simulate_world
from gputwin.run.world import World, build_world, observe_workload
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
    jobs = sorted(jobs, key=lambda j: j.submit_time_s)
    observe_workload(built.scheduler, jobs)  # FGD's target workload = these jobs
    return dataclasses.replace(built, jobs=jobs)


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


@pytest.mark.parametrize("profile", ["fgd", "bestfit", "gpu-packing"])
def test_fgd_fragmentation_metrics_in_the_summary(tmp_path: Path, profile: str) -> None:
    # Target workload = the run's pods: half 0.5-GPU, half 1-GPU. After both start (t = 0)
    # one GPU has 0.5 free: fragmented for the 1-GPU class (weight 0.5), usable by the
    # 0.5 class -> F = 0.5 x 0.5 = 0.25 GPU, on [0, 100) (the share outlives the whole pod).
    # Unallocated: 8 - 1.5 = 6.5 GPUs on [0, 50), 7.5 on [50, 100).
    jobs = [pod("half", 0.0, 100.0, milli=500), pod("whole", 0.0, 50.0)]
    s = simulate_world(world(tmp_path, jobs, f"{{profile: {profile}}}"), name="g", seed=0,
                       horizon_s=None).summary
    assert s["end_time_s"] == pytest.approx(100.0)
    assert s["fgd_fragmentation_gpus_mean"] == pytest.approx(0.25)
    assert s["fgd_fragmentation_gpus_max"] == pytest.approx(0.25)
    assert s["fgd_unallocated_gpus_mean"] == pytest.approx(7.0)
    assert s["fgd_fragmentation_rate_mean"] == pytest.approx((0.25 / 6.5 + 0.25 / 7.5) / 2)
    assert s["fragmentation_mean_frac"] is None  # the heuristic: nobody ever waited


def test_no_fgd_keys_without_a_sharing_placement(tmp_path: Path) -> None:
    s = simulate_world(world(tmp_path, [pod("w", 0.0, 10.0)], "{profile: fifo}"), name="f",
                       seed=0, horizon_s=None).summary
    assert not [k for k in s if k.startswith("fgd_")]
