"""Facility constraints at placement (scheduling/plugins/power.py).

Racks: 4 DGX H100 (4 x 10.2 kW nameplate = 40.8 kW) do not fit a 40 kW air rack, so a rack
can run at most 31 busy GPU slots; the filter + reserve pair must never let a rack exceed its
limit (hypothesis over random workloads, checked from scratch after every start). Site
budget: facility power (recorded IT power x PUE(t), from the accounting, not the plugin's own
booking) never exceeds the budget, in both the queue and the cap policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gputwin.errors import InputError
from gputwin.run import energy_accounting
from gputwin.run.energy_accounting import EnergyRecorder, it_power_steps
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario
from gputwin.scheduling.plugins.power import SitePower

BASE = """\
name: racks
seed: 1
cluster: {system: dgx-h100, num_nodes: 8, network: {nodes_per_leaf: 4}}
workload:
  synthetic:
    num_jobs: 20
    arrival: {process: poisson, mean_interarrival: 20min}
    templates:
      - {kind: finetune, model: llama3-8b, num_gpus: [8], global_batch_size: 32,
         seq_len: 2048, tokens: [5e7, 3e8]}
      - {kind: finetune, model: llama3-8b, num_gpus: [16, 24], global_batch_size: 96,
         seq_len: 2048, tokens: [2e8, 6e8]}
site: {region: US-CAL-CISO, cooling: air, racks: {nodes_per_rack: 4}}
scheduler: {profile: best-effort}
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(BASE, encoding="utf-8")
    return path


@pytest.fixture
def rack_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """After every booking, the nameplate power of every rack recomputed from scratch from
    the booked placements; yields the list of the highest rack power seen per start."""
    seen: list[float] = []
    original = SitePower.started

    def checked(self: SitePower, job: Any, placement: Any) -> None:
        original(self, job, placement)
        busy = np.zeros(self.num_racks)
        for placed, _, _ in self._placed.values():
            for node, gpus in zip(placed.nodes, placed.gpus, strict=True):
                busy[node // self.nodes_per_rack] += gpus
        nodes = np.bincount(np.arange(self.num_nodes) // self.nodes_per_rack)
        rack_w = nodes * self.gpus_per_node * self.idle_gpu_w \
            + busy * (self.nameplate_gpu_w - self.idle_gpu_w)
        seen.append(float(rack_w.max()))

    monkeypatch.setattr(SitePower, "started", checked)
    yield seen


def test_full_stack_of_dgx_h100_does_not_fit_an_air_rack(base: Path,
                                                         rack_checks: list[float]) -> None:
    """One rack of 4 nodes, only 8-GPU jobs: at most 3 run at once, never 4."""
    sc = load_scenario(base, ["cluster.num_nodes=4", "workload.synthetic.templates.1.weight=0.0001",
                              "workload.synthetic.templates.0.num_gpus=8",
                              "workload.synthetic.arrival.mean_interarrival=1min"])
    result = simulate(sc)
    assert max(result.timeline.running_jobs) == 3
    assert rack_checks and max(rack_checks) <= 40_000.0 + 1e-6
    assert result.summary["site"]["rack_nameplate_w"] == pytest.approx(40_800.0)


def test_rack_layout_that_fits_adds_no_rack_plugins(base: Path) -> None:
    from gputwin.catalog.loader import default_catalog
    from gputwin.run.world import build_world
    from gputwin.sim.rng import RandomStreams

    fits = build_world(load_scenario(base, ["site.racks.nodes_per_rack=3"]),
                       default_catalog(), RandomStreams(0))
    tight = build_world(load_scenario(base), default_catalog(), RandomStreams(0))
    names = lambda w: {p.name for p in w.scheduler.plugins.all()}  # noqa: E731
    assert "filter/rack-power" not in names(fits)
    assert {"filter/rack-power", "reserve/rack-power"} <= names(tight)


JOBS = st.lists(st.tuples(st.integers(0, 20_000), st.integers(60, 20_000),
                          st.sampled_from([1, 2, 4, 8, 8, 16, 24])), min_size=1, max_size=40)


def _trace(tmp_path: Path, jobs: list[tuple[int, int, int]], nodes: int, extra: str) -> Path:
    """A Philly-format trace (fixed durations: no perf model, fast) and a scenario on it."""
    lines = ["timestamp,duration,num_gpus,gpu_time,cluster"]
    for submit, duration, gpus in sorted(jobs):
        h, rem = divmod(submit, 3600)
        lines.append(f"2017-10-01 {h:02d}:{rem // 60:02d}:{rem % 60:02d},{duration},{gpus},"
                     f"{duration * gpus},x")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    path = tmp_path / "trace.yaml"
    path.write_text(f"cluster: {{system: dgx-h100, num_nodes: {nodes}}}\n"
                    "workload: {trace: {format: philly_csv, path: t.csv}}\n" + extra)
    return path


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(jobs=JOBS, nodes=st.integers(1, 9), per_rack=st.integers(2, 5),
       profile=st.sampled_from(["best-effort", "fifo", "backfill-easy"]),
       limit_kw=st.sampled_from([25, 32, 40]))
def test_a_rack_never_exceeds_its_limit(tmp_path: Path, rack_checks: list[float],
                                        jobs: list[tuple[int, int, int]], nodes: int,
                                        per_rack: int, profile: str, limit_kw: int) -> None:
    rack_checks.clear()
    path = _trace(tmp_path, jobs, nodes, f"scheduler: {{profile: {profile}}}\n"
                  f"site: {{cooling: air, racks: {{nodes_per_rack: {per_rack}, "
                  f"power_limit: {limit_kw}kW}}}}\n")
    result = simulate(load_scenario(path))
    assert max(rack_checks, default=0.0) <= limit_kw * 1e3 + 1e-6
    started = any(j.start_time_s is not None for j in result.jobs)
    if started and not rack_checks:  # no rack plugins: a full rack's nameplate fits
        assert result.summary["site"]["rack_nameplate_w"] <= limit_kw * 1e3
    assert result.summary["jobs_by_status"]["completed"] + \
        result.summary["jobs_by_status"]["failed"] + \
        result.summary["jobs_by_status"]["queued"] == len(jobs)


@pytest.fixture
def recorders(monkeypatch: pytest.MonkeyPatch) -> list[EnergyRecorder]:
    out: list[EnergyRecorder] = []
    original = EnergyRecorder.finish

    def keep(self: EnergyRecorder, end_s: float, job_ids: list[str]) -> Any:
        out.append(self)
        return original(self, end_s, job_ids)

    monkeypatch.setattr(energy_accounting.EnergyRecorder, "finish", keep)
    return out


def _max_facility_w(rec: EnergyRecorder, end_s: float) -> float:
    """Highest instantaneous facility power: recorded IT steps x hourly PUE, evaluated at
    every breakpoint of either step function."""
    if end_s <= 0:
        return 0.0
    times, level = it_power_steps(rec, end_s)
    hours = np.arange(0.0, end_s, 3600.0)
    at = np.union1d(times[:-1], hours)
    idx = np.searchsorted(times, at, side="right") - 1
    pue = np.array([rec.setup.site.pue.at(t) for t in at])
    return float((level[idx] * pue).max())


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(jobs=JOBS, budget_kw=st.integers(30, 120), policy=st.sampled_from(["queue", "cap"]))
def test_site_budget_is_never_exceeded(tmp_path: Path, recorders: list[EnergyRecorder],
                                       jobs: list[tuple[int, int, int]], budget_kw: int,
                                       policy: str) -> None:
    recorders.clear()
    path = _trace(tmp_path, jobs, 8, "scheduler: {profile: best-effort}\n"
                  f"site: {{power_budget: {budget_kw}kW, budget_policy: {policy}}}\n")
    try:
        result = simulate(load_scenario(path))
    except InputError as exc:  # budget below the idle draw of 8 nodes
        assert "idle draw" in str(exc) and "site.power_budget" in str(exc)
        return
    (rec,) = recorders
    assert _max_facility_w(rec, result.end_time_s) <= budget_kw * 1e3 * (1 + 1e-9)
    for job in result.jobs:
        if job.status == "queued" and "budget" in job.reason:
            assert "waiting: site power budget" in job.reason


def test_budget_queues_or_caps(base: Path, recorders: list[EnergyRecorder]) -> None:
    """A tight budget: with policy queue jobs wait (reason given); with policy cap more of
    them start, under a cap, and run slower than the same job uncapped would."""
    over = ["site.racks.nodes_per_rack=3", "site.power_budget=45kW", "horizon=4h",
            "workload.synthetic.arrival.mean_interarrival=1min"]
    queued = simulate(load_scenario(base, [*over, "site.budget_policy=queue"]))
    capped = simulate(load_scenario(base, [*over, "site.budget_policy=cap"]))
    assert queued.summary["site"]["num_power_capped_starts"] == 0
    assert capped.summary["site"]["num_power_capped_starts"] > 0
    reasons = [j.reason for j in queued.jobs if j.status == "queued"]
    assert any("site power budget" in r for r in reasons)
    assert capped.summary["energy_it_j"] is not None
    for rec, res in zip(recorders, (queued, capped), strict=True):
        assert _max_facility_w(rec, res.end_time_s) <= 45e3 * (1 + 1e-9)
    # a capped job runs longer than its uncapped twin in the queue run
    by_id = {j.job_id: j for j in queued.jobs}
    slower = [j for j in capped.jobs if j.status == "completed" and j.job_id in by_id
              and by_id[j.job_id].status == "completed"
              and j.run_time_s is not None and by_id[j.job_id].run_time_s is not None
              and j.run_time_s > by_id[j.job_id].run_time_s * 1.001]  # type: ignore[operator]
    assert slower


def test_power_plugin_without_site_is_an_input_error(base: Path) -> None:
    text = base.read_text().replace("site: {region: US-CAL-CISO, cooling: air, "
                                    "racks: {nodes_per_rack: 4}}\n", "")
    base.write_text(text)
    sc = load_scenario(base, ["scheduler.plugins={filter: [node-healthy, rack-power]}"])
    with pytest.raises(InputError, match=r"rack-power.*site"):
        simulate(sc)


def test_job_that_can_never_fit_the_budget_is_rejected(base: Path) -> None:
    sc = load_scenario(base, ["site.racks.nodes_per_rack=3", "site.power_budget=30kW",
                              "workload.synthetic.templates.0.weight=0.0001"])
    result = simulate(sc)
    failed = [j for j in result.jobs if j.status == "failed"]
    assert failed and all("site power budget" in j.reason for j in failed)
