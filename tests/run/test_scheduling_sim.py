"""Scheduling inside the simulator: preemption with checkpoint loss, metrics, invariants
under random workloads (hypothesis), determinism, and direction tests on real data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gputwin.catalog.loader import default_catalog
from gputwin.run.simulate import simulate, simulate_world
from gputwin.run.world import World, build_world
from gputwin.scenario import data_dir, load_scenario
from gputwin.sim import RandomStreams
from gputwin.workload import JobSpec

ONE_NODE = """\
cluster: {system: dgx-h100, num_nodes: NODES, network: {nodes_per_leaf: 2}}
workload: {trace: {format: philly_csv, path: t.csv}}
scheduler: SCHED
"""


def _world(tmp_path: Path, jobs: list[JobSpec], sched: str, nodes: int = 1) -> World:
    (tmp_path / "t.csv").write_text("timestamp,duration,num_gpus,gpu_time,cluster\n"
                                    "2017-10-01 00:00:00,1,1,1,x\n")
    (tmp_path / "s.yaml").write_text(ONE_NODE.replace("SCHED", sched)
                                     .replace("NODES", str(nodes)))
    sc = load_scenario(tmp_path / "s.yaml")
    world = build_world(sc, default_catalog(), RandomStreams(0))
    return dataclasses.replace(world, jobs=sorted(jobs, key=lambda j: j.submit_time_s))


def _job(job_id: str, gpus: int, t: float, dur: float, **kw: object) -> JobSpec:
    return JobSpec(job_id=job_id, kind="k", tenant=str(kw.pop("tenant", "t")), model="m",
                   num_gpus=gpus, submit_time_s=t, fixed_duration_s=dur, **kw)  # type: ignore[arg-type]


def test_preemption_charges_work_since_last_checkpoint(tmp_path: Path) -> None:
    """Hand-worked: L (8 GPUs, 1000 s, checkpoint every 300 s) is preempted at 650 by H.
    Work since the checkpoint at 600 is lost (50 s x 8 GPUs); L resumes at 750 with
    400 s left plus a 20 s restart overhead -> ends at 1170."""
    jobs = [_job("L", 8, 0, 1000, checkpoint_interval_s=300.0),
            _job("H", 8, 650, 100, priority=5)]
    world = _world(tmp_path, jobs, "{profile: priority, restart_overhead: 20s}")
    result = simulate_world(world, name="p", seed=0, horizon_s=None)
    got = {j.job_id: j for j in result.jobs}
    assert (got["H"].start_time_s, got["H"].end_time_s) == (650, 750)
    assert got["L"].status == "completed" and got["L"].end_time_s == pytest.approx(1170)
    assert got["L"].preemptions == 1
    assert got["L"].lost_gpu_hours == pytest.approx(50 * 8 / 3600)
    assert got["L"].gpu_hours == pytest.approx(8 * (650 + 420) / 3600)
    s = result.summary
    assert s["preemptions"] == 1 and s["lost_gpu_hours"] == pytest.approx(50 * 8 / 3600)
    # GPU-hours held by jobs = integral of the allocation timeline
    assert s["gpu_hours"] == pytest.approx(sum(j.gpu_hours or 0 for j in result.jobs))


def test_no_checkpoint_loses_everything(tmp_path: Path) -> None:
    jobs = [_job("L", 8, 0, 1000), _job("H", 8, 650, 100, priority=5)]
    world = _world(tmp_path, jobs, "{profile: priority}")
    got = {j.job_id: j for j in simulate_world(world, name="p", seed=0, horizon_s=None).jobs}
    assert got["L"].end_time_s == pytest.approx(750 + 1000)
    assert got["L"].lost_gpu_hours == pytest.approx(650 * 8 / 3600)


def test_bounded_slowdown_and_tenant_entitlements(tmp_path: Path) -> None:
    jobs = [_job("a", 8, 0, 100, tenant="x"), _job("b", 8, 0, 5, tenant="y")]
    world = _world(tmp_path, jobs, "{profile: fifo, tenant_shares: {x: 3, y: 1}}")
    s = simulate_world(world, name="p", seed=0, horizon_s=None).summary
    # a: JCT 100, run 100 -> 1; b waits 100, runs 5 -> 105 / max(5, 10) = 10.5
    assert s["bounded_slowdown"]["max"] == pytest.approx(10.5)
    assert s["bounded_slowdown"]["mean"] == pytest.approx((1 + 10.5) / 2)
    x = s["tenants"]["x"]
    assert x["gpu_hours"] == pytest.approx(800 / 3600)
    assert x["entitlement_frac"] == pytest.approx(0.75)
    assert x["entitled_gpu_hours"] == pytest.approx(0.75 * 8 * 105 / 3600)


def test_fragmentation_is_sampled(tmp_path: Path) -> None:
    # 6 of 8 GPUs busy, a 4-GPU job waits: the 2 free GPUs are stranded (frac 1)
    jobs = [_job("a", 6, 0, 100), _job("b", 4, 1, 10)]
    result = simulate_world(_world(tmp_path, jobs, "{profile: fifo}"), name="p", seed=0,
                            horizon_s=None)
    assert result.timeline.fragmentation[0] == (1.0, 1.0)
    assert result.summary["fragmentation_mean_frac"] == 1.0


PROFILES = ["fifo", "priority", "multifactor", "backfill-easy", "backfill-conservative",
            "best-effort", "binpack", "spread", "topology", "drf", "defrag"]

job_lists = st.lists(
    st.tuples(st.sampled_from([1, 2, 4, 8, 12, 16, 24, 32, 40]), st.floats(0, 500),
              st.floats(1, 400), st.integers(0, 3), st.sampled_from(["a", "b", "c"]),
              st.sampled_from([None, 60.0])),
    min_size=1, max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(job_lists, st.sampled_from(PROFILES), st.sampled_from([None, 300.0]))
def test_property_no_overallocation_every_job_once(
    tmp_path: Path, raw: list[tuple[int, float, float, int, str, float | None]],
    profile: str, horizon: float | None,
) -> None:
    """Any workload, any profile: the ledger never over-allocates (it raises), each job is
    reported exactly once with a consistent status, and the allocation never exceeds the
    cluster."""
    jobs = [_job(f"j{i}", g, t, d, priority=p, tenant=tn, checkpoint_interval_s=ck)
            for i, (g, t, d, p, tn, ck) in enumerate(raw)]
    world = _world(tmp_path, jobs, f"{{profile: {profile}, restart_overhead: 5s}}", nodes=4)
    result = simulate_world(world, name="p", seed=0, horizon_s=horizon)
    assert sorted(j.job_id for j in result.jobs) == sorted(j.job_id for j in jobs)
    assert all(0 <= g <= 32 for g in result.timeline.gpus_allocated)
    for rec in result.jobs:
        if rec.num_gpus > 32 and (horizon is None or rec.submit_time_s <= horizon):
            assert rec.status == "failed"
        if rec.status == "completed":
            assert rec.end_time_s is not None and rec.start_time_s is not None
            assert rec.submit_time_s <= rec.start_time_s <= rec.end_time_s
        if rec.status == "queued":
            assert rec.end_time_s is None and rec.reason
        if rec.status == "running":
            assert horizon is not None and rec.end_time_s is None
    if horizon is None:
        assert all(r.status in ("completed", "failed") for r in result.jobs)


def _comparable(summary: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in summary.items() if k != "wall_time_s"}


@pytest.mark.parametrize("profile", ["multifactor", "backfill-conservative", "drf", "priority"])
def test_same_seed_same_summary(small_path: Path, profile: str) -> None:
    over = [f"scheduler={{profile: {profile}}}",
            "workload.synthetic.arrival.mean_interarrival=5min"]
    a = simulate(load_scenario(small_path, over))
    b = simulate(load_scenario(small_path, over))
    assert _comparable(a.summary) == _comparable(b.summary) and a.jobs == b.jobs


PHILLY = data_dir() / "traces/philly-adaptdl/philly.csv"


@pytest.mark.skipif(not PHILLY.is_file(), reason=f"Philly trace not found at {PHILLY}")
def test_direction_easy_backfill_cuts_queueing_delay_on_philly(tmp_path: Path) -> None:
    base = ("cluster: {system: dgx-a100, num_nodes: 12, network: {nodes_per_leaf: 4}}\n"
            "workload: {trace: {format: philly_csv, path: traces/philly-adaptdl/philly.csv,"
            " cluster: 0e4a51}}\n")
    (tmp_path / "p.yaml").write_text(base)
    fifo = simulate(load_scenario(tmp_path / "p.yaml", ["scheduler={profile: fifo}"]))
    easy = simulate(load_scenario(tmp_path / "p.yaml", [
        "scheduler={profile: backfill-easy, args: {backfill: {runtime_estimate: predicted,"
        " runtime_factor: 1.5}}}"]))
    assert easy.summary["wait_s"]["mean"] < 0.8 * fifo.summary["wait_s"]["mean"]
    assert easy.summary["jobs_by_status"]["completed"] == len(easy.jobs)


def test_direction_topology_placement_shortens_multinode_jct(small_path: Path) -> None:
    """On a 4:1 oversubscribed fabric with 2-node leaves, keeping gangs inside a leaf makes
    their steps faster than first-fit, which spreads them over fragmented leaves."""
    over = ["cluster.network={topology: fat_tree, nodes_per_leaf: 2, oversubscription: 4.0}",
            "workload.synthetic.arrival.mean_interarrival=20min"]
    results = {}
    for profile in ("fifo", "topology"):
        sc = load_scenario(small_path, [*over, f"scheduler={{profile: {profile}}}"])
        results[profile] = simulate(sc)
    def multi(res: object) -> list[float]:
        return [j.run_time_s for j in res.jobs  # type: ignore[attr-defined]
                if j.status == "completed" and j.num_gpus == 16 and j.run_time_s]
    ff, topo = results["fifo"], results["topology"]
    ff_leaves = [j.num_leaves for j in ff.jobs if j.num_gpus == 16]
    topo_leaves = [j.num_leaves for j in topo.jobs if j.num_gpus == 16]
    assert sum(topo_leaves) / len(topo_leaves) < sum(ff_leaves) / len(ff_leaves)
    assert sum(multi(topo)) / len(multi(topo)) < sum(multi(ff)) / len(multi(ff))
