"""Energy, carbon, water and cost accounting in simulations (run/energy_accounting.py).

Hand-worked cases (trace jobs on one node, a recorder driven by hand through a preemption)
check the bookkeeping against the power curve and the price book; hypothesis checks the
invariants over random workloads: nothing negative, facility >= IT, totals = jobs + idle,
the hourly timeline integrates to the same energy, physical bounds (idle <= IT <= nameplate).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gputwin.catalog.loader import default_catalog
from gputwin.cluster.ledger import Placement
from gputwin.energy.regions import region_grid
from gputwin.energy.tables import default_tables
from gputwin.perf.power import (
    accelerator_power_w,
    default_power_coefficients,
    host_power_w,
    node_nameplate_power_w,
    training_activity_frac,
)
from gputwin.run.energy_accounting import SUMMARY_KEYS, EnergyRecorder, cumulative
from gputwin.run.results import SimulationResult
from gputwin.run.simulate import simulate
from gputwin.run.world import build_world
from gputwin.scenario import load_scenario
from gputwin.sim.rng import RandomStreams
from gputwin.training.runtime import RunPlan
from gputwin.workload.job import JobSpec

H100 = default_catalog().accelerators["h100-sxm-80gb"]
DGX = default_catalog().systems["dgx-h100"]
K = default_power_coefficients()
IDLE_SLOT_W = H100.idle_w + DGX.host_power_w * K.host_idle_frac / 8
NAMEPLATE_SLOT_W = node_nameplate_power_w(H100, DGX) / 8

SMALL = """\
name: small-energy
seed: 5
cluster: {system: dgx-h100, num_nodes: 4, network: {nodes_per_leaf: 2}, storage: lustre}
workload:
  synthetic:
    num_jobs: 12
    arrival: {process: poisson, mean_interarrival: 40min}
    templates:
      - {kind: finetune, model: llama3-8b, num_gpus: [8, 16], global_batch_size: 64,
         seq_len: 4096, tokens: [1e8, 6e8], startup_overhead: 1min}
      - {kind: pretrain, model: llama3-8b, num_gpus: [16, 32], tp: 2, global_batch_size: 256,
         seq_len: 4096, tokens: [5e8, 2e9]}
site: {region: DE-LU, cooling: air, start: 2023-07-01T00:00}
"""


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _trace_scenario(tmp_path: Path, site: str) -> Path:
    (tmp_path / "t.csv").write_text(
        "timestamp,duration,num_gpus,gpu_time,cluster\n"
        "2017-10-01 00:00:00,100,8,800,x\n"
        "2017-10-01 00:00:10,50,4,200,x\n"
        "2017-10-01 00:00:20,30,4,120,x\n")
    return _write(tmp_path, "cluster: {system: dgx-h100, num_nodes: 1}\n"
                  "workload: {trace: {format: philly_csv, path: t.csv}}\n" + site)


def test_no_site_keeps_energy_keys_null(tmp_path: Path) -> None:
    result = simulate(load_scenario(_trace_scenario(tmp_path, "")))
    assert all(result.summary[k] is None for k in SUMMARY_KEYS)
    assert result.energy is None and all(j.co2e_g is None for j in result.jobs)


def test_hand_worked_trace_on_one_node(tmp_path: Path) -> None:
    """Three trace jobs on one DGX H100 over 150 s, fixed PUE 1.5: every figure by hand."""
    path = _trace_scenario(tmp_path, "site: {region: GB, pue: 1.5, start: 2023-03-01T00:00,"
                                     " provider: neocloud, pricing: on-demand}\n")
    result = simulate(load_scenario(path))
    s = result.summary
    a = training_activity_frac(0.52, K.wait_activity_frac)  # trace_compute_frac default
    busy_slot_w = accelerator_power_w(H100, a) + host_power_w(DGX, a, K) / 8
    busy_slot_s = 8 * 100 + 4 * 50 + 4 * 30  # GPU-seconds the jobs held
    idle_slot_s = 8 * 150 - busy_slot_s
    it = busy_slot_s * busy_slot_w + idle_slot_s * IDLE_SLOT_W
    assert s["energy_it_j"] == pytest.approx(it, rel=1e-9)
    assert s["energy_facility_j"] == pytest.approx(1.5 * it, rel=1e-9)
    grid = region_grid("GB")
    t0 = (31 + 28) * 86400.0  # 1 March: all 150 s fall in its first hour
    ci = grid.carbon_g_per_j.with_offset(t0).at(0.0)
    assert s["co2e_operational_g"] == pytest.approx(1.5 * it * ci, rel=1e-9)
    usd_h = default_tables().price_book.accelerators["h100-sxm-80gb"] \
        .usd_per_gpu_hour["neocloud"]["on-demand"]
    assert s["cost_compute_usd"] == pytest.approx(8 * 150 / 3600 * usd_h, rel=1e-9)
    assert s["cost_usd"] == pytest.approx(s["cost_compute_usd"])  # rental includes energy
    a_job = result.jobs[0]
    assert a_job.cost_usd == pytest.approx(800 / 3600 * usd_h, rel=1e-9)
    assert a_job.co2e_g is not None and a_job.co2e_g > 0


def test_cluster_embodied_is_wall_clock_share_of_every_slot(tmp_path: Path) -> None:
    """Every slot-second is charged (held to its job, free to idle), so the run's embodied
    carbon is N slots x window x kg / lifetime -- no 85 % use divisor on top (it billed the
    idle share twice: 1/0.85 too much)."""
    path = _trace_scenario(tmp_path, "site: {region: GB, pue: 1.5, start: 2023-03-01T00:00}\n")
    result = simulate(load_scenario(path))
    s = result.summary
    emb = default_tables().embodied
    entry = emb.accelerators["h100-sxm-80gb"]
    kg = entry.accelerator_kg + entry.host_share_kg
    per_slot_s = kg * 1e3 / (emb.lifetime_years * 8760 * 3600)
    assert s["co2e_embodied_g"] == pytest.approx(8 * 150 * per_slot_s, rel=1e-9)
    # the held slots' share is the jobs', the rest the idle account's
    assert result.energy is not None
    assert result.energy["idle"]["co2e_embodied_g"] == pytest.approx(
        (8 * 150 - (8 * 100 + 4 * 50 + 4 * 30)) * per_slot_s, rel=1e-9)
    assert s["site"]["embodied_basis"].startswith("wall-clock")
    # the timeline charges the same slots: its last cumulative CO2e is the run's
    assert result.energy["timeline"]["co2e_cumulative_g"][-1] == pytest.approx(
        s["co2e_operational_g"] + s["co2e_embodied_g"], rel=1e-6)


def test_owned_hardware_pays_capex_and_energy(tmp_path: Path) -> None:
    path = _trace_scenario(tmp_path, "site: {region: US-TEX-ERCO, provider: owned}\n")
    s = simulate(load_scenario(path)).summary
    assert s["cost_usd"] == pytest.approx(s["cost_compute_usd"] + s["cost_energy_usd"])
    assert "owned" in s["site"]["cost_basis"]


def _plan(duration_s: float, startup_s: float, energy_j: float, steps: float) -> RunPlan:
    return RunPlan(duration_s=duration_s, startup_s=startup_s, step_time_s=1.0,
                   num_steps=steps, mfu=0.4, energy_j=energy_j)


def test_recorder_charges_actual_intervals_through_a_preemption(tmp_path: Path) -> None:
    """A 16-GPU job runs 0-50 s (10 s start-up), is preempted, resumes 80-120 s (10 s
    start-up again): it is charged idle power in both start-ups, its training power for
    40 + 30 s, and the slots it does not hold are idle."""
    world = build_world(load_scenario(_write(tmp_path, SMALL)), default_catalog(),
                        RandomStreams(0))
    assert world.site is not None
    rec = EnergyRecorder(world.site, world.layout.total_gpus)
    job = JobSpec(job_id="x", kind="finetune", model="llama3-8b", tenant="t", num_gpus=16,
                  submit_time_s=0.0, fixed_duration_s=90.0)
    where = Placement(nodes=(0, 1), gpus=(8, 8), num_leaves=1, num_domains=2)
    train_w = 16 * 1000.0  # 1 kW per slot while training
    rec.start(job, where, _plan(100.0, 10.0, train_w * 90.0, 90), 0.0)
    rec.stop("x", 50.0)
    rec.start(job, where, _plan(60.0, 10.0, train_w * 50.0, 50), 80.0)
    res = rec.finish(120.0, ["x"])
    idle_job = 16 * IDLE_SLOT_W * (10 + 10)
    expect_job = idle_job + train_w * (40 + 30)
    assert res.jobs["x"]["energy_it_j"] == pytest.approx(expect_job, rel=1e-9)
    free_slot_s = 32 * 120 - 16 * (50 + 40)
    assert res.idle["energy_it_j"] == pytest.approx(free_slot_s * IDLE_SLOT_W, rel=1e-9)
    assert res.totals["energy_it_j"] == pytest.approx(expect_job + res.idle["energy_it_j"])


def test_cumulative_matches_scalar_integral() -> None:
    series = region_grid("SG").carbon_g_per_j.with_offset(12345.0)
    import numpy as np

    t = np.array([0.0, 10.0, 3599.0, 7200.5, 86400.0 * 400])
    got = cumulative(series, t)
    want = [series.integral(0.0, x) for x in t]
    assert got == pytest.approx(want, rel=1e-9)


def _check_invariants(result: SimulationResult) -> None:
    s = result.summary
    assert result.energy is not None
    idle = result.energy["idle"]
    for key in ("energy_it_j", "energy_facility_j", "co2e_operational_g", "co2e_embodied_g",
                "water_l", "cost_compute_usd"):
        assert s[key] >= 0.0, key
        assert idle[key] >= 0.0, key
    assert s["energy_facility_j"] >= s["energy_it_j"] * (1 - 1e-12)
    jobs = result.jobs
    assert all(j.co2e_g is not None and j.co2e_g >= 0 for j in jobs)
    assert all(j.water_l is not None and j.water_l >= 0 for j in jobs)
    co2 = sum(j.co2e_g or 0.0 for j in jobs) + idle["co2e_operational_g"] \
        + idle["co2e_embodied_g"]
    assert co2 == pytest.approx(s["co2e_operational_g"] + s["co2e_embodied_g"], rel=1e-9)
    assert sum(j.water_l or 0.0 for j in jobs) + idle["water_l"] == pytest.approx(
        s["water_l"], rel=1e-9)
    assert sum(j.cost_usd or 0.0 for j in jobs) + idle["cost_compute_usd"] == pytest.approx(
        s["cost_usd"], rel=1e-9, abs=1e-9)
    # the hourly timeline is integrated separately from the per-segment accounts
    tl = result.energy["timeline"]
    widths = [b - a for a, b in zip(tl["time_s"], [*tl["time_s"][1:], result.end_time_s],
                                    strict=True)]
    it_tl = sum(p * w for p, w in zip(tl["it_power_w"], widths, strict=True))
    assert it_tl == pytest.approx(s["energy_it_j"], rel=1e-9)
    fac_tl = sum(p * w for p, w in zip(tl["facility_power_w"], widths, strict=True))
    assert fac_tl == pytest.approx(s["energy_facility_j"], rel=1e-6)
    assert tl["co2e_cumulative_g"][-1] == pytest.approx(
        s["co2e_operational_g"] + s["co2e_embodied_g"], rel=1e-6)
    # physics: every slot draws between idle and nameplate power
    slot_s = result.total_gpus * result.end_time_s
    assert slot_s * IDLE_SLOT_W * (1 - 1e-9) <= s["energy_it_j"] <= slot_s * NAMEPLATE_SLOT_W
    # GPU-hours held: jobs' share of the embodied carbon matches their share of GPU time
    site_emb = s["co2e_embodied_g"] / slot_s
    held = sum((j.gpu_hours or 0.0) * 3600 for j in jobs)
    assert idle["co2e_embodied_g"] == pytest.approx(site_emb * (slot_s - held), rel=1e-6,
                                                    abs=1e-6)


def test_small_scenario_invariants(tmp_path: Path) -> None:
    result = simulate(load_scenario(_write(tmp_path, SMALL)))
    _check_invariants(result)
    modelled = [j for j in result.jobs if j.energy_j is not None and j.status == "completed"]
    assert modelled


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), nodes=st.integers(2, 6), jobs=st.integers(3, 16),
       gap_min=st.integers(5, 120), horizon_h=st.sampled_from([None, 3, 12]),
       region=st.sampled_from(["US-CAL-CISO", "DE-LU", "SG", "IN-WE"]),
       cooling=st.sampled_from(["air", "air-legacy", "liquid"]))
def test_invariants_over_random_workloads(tmp_path: Path, seed: int, nodes: int, jobs: int,
                                          gap_min: int, horizon_h: int | None, region: str,
                                          cooling: str) -> None:
    over = [f"seed={seed}", f"cluster.num_nodes={nodes}",
            f"workload.synthetic.num_jobs={jobs}",
            f"workload.synthetic.arrival.mean_interarrival={gap_min}min",
            f"site.region={region}", f"site.cooling={cooling}",
            "workload.synthetic.templates.1.num_gpus=[16]"]
    if horizon_h is not None:
        over.append(f"horizon={horizon_h}h")
    result = simulate(load_scenario(_write(tmp_path, SMALL), over))
    _check_invariants(result)


def test_real_grid_data_is_used_when_given(tmp_path: Path) -> None:
    from gputwin.scenario.paths import data_dir

    if not (data_dir() / "grid" / "carbon-2023").is_dir():
        pytest.skip(f"real grid data not found under {data_dir()}")
    path = _write(tmp_path, SMALL)
    real = simulate(load_scenario(path, [f"site.grid_data={data_dir() / 'grid'}"]))
    synthetic = simulate(load_scenario(path))
    r, s = real.summary, synthetic.summary
    assert "synthetic" not in r["site"]["grid_origin"]
    assert r["energy_it_j"] == pytest.approx(s["energy_it_j"])  # same jobs, same power
    # same zone: the synthetic year is fitted to the real one (within a factor 2 over hours)
    ratio = r["co2e_operational_g"] / s["co2e_operational_g"]
    assert 0.5 < ratio < 2.0 and not math.isclose(ratio, 1.0, rel_tol=1e-9)
