"""Faults in cluster runs: scenario `failures:` (run/failures.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gputwin.errors import InputError
from gputwin.run.simulate import simulate
from gputwin.scenario import Scenario, load_scenario

SMALL = """\
name: small-faults
seed: 3
cluster:
  system: dgx-h100
  num_nodes: 12
  network: {topology: fat_tree, nodes_per_leaf: 4, oversubscription: 2.0}
  storage: lustre
workload:
  synthetic:
    num_jobs: 40
    arrival: {process: poisson, mean_interarrival: 1h}
    templates:
      - {weight: 3, kind: finetune, model: llama3-8b, num_gpus: [8, 16], global_batch_size: 64,
         seq_len: 4096, tokens: [5e8, 5e9], startup_overhead: 1min}
      - {weight: 1, kind: pretrain, model: llama3-8b, num_gpus: [32, 64], tp: 2,
         global_batch_size: 512, seq_len: 4096, tokens: [2e10, 6e10]}
scheduler: {policy: fifo, placement: first_fit}
failures: {rate_scale: 300}
"""


def _scenario(tmp_path: Path, overrides: list[str] | None = None) -> Scenario:
    path = tmp_path / "faults.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return load_scenario(path, overrides or [])


def test_every_job_accounted_and_failed_nodes_jobs_replaced(tmp_path: Path) -> None:
    result = simulate(_scenario(tmp_path))
    rel = result.summary["reliability"]
    assert rel["interruptions"] > 0 and rel["lost_gpu_hours"] > 0
    statuses = [j.status for j in result.jobs]
    assert len(statuses) == 40
    assert all(s in ("completed", "failed", "running", "queued") for s in statuses)
    assert statuses.count("completed") == 40  # no horizon: interrupted jobs were re-placed
    assert sum(c["interruptions"] for c in rel["by_cause"].values()) == rel["interruptions"]
    assert rel["lost_gpu_hours"] <= result.summary["lost_gpu_hours"] + 1e-9
    assert 0 < rel["ettr_cluster"] < 1
    assert all(0 < e <= 1 + 1e-9 for e in rel["ettr_per_job"].values())


def test_same_seed_same_faults_other_seed_differs(tmp_path: Path) -> None:
    def key(sc: Scenario) -> object:
        s = simulate(sc).summary
        return s["reliability"], s["makespan_s"]

    assert key(_scenario(tmp_path)) == key(_scenario(tmp_path))
    assert key(_scenario(tmp_path)) != key(_scenario(tmp_path, ["seed=4"]))


def test_more_faults_lose_more(tmp_path: Path) -> None:
    low = simulate(_scenario(tmp_path, ["failures.rate_scale=50"])).summary["reliability"]
    high = simulate(_scenario(tmp_path, ["failures.rate_scale=500"])).summary["reliability"]
    assert high["interruptions"] > low["interruptions"]
    assert high["lost_gpu_hours"] > low["lost_gpu_hours"]


def test_spares_replace_failed_nodes(tmp_path: Path) -> None:
    rel = simulate(_scenario(tmp_path, ["failures.spares=2"])).summary["reliability"]
    assert rel["spares_used"] > 0


def test_leaf_switch_takes_its_leaf(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, ["failures.models={switch: {rate_per_unit_hour: 0.01}}",
                              "failures.rate_scale=1"])
    rel = simulate(sc).summary["reliability"]
    faults = rel["by_cause"]["switch"]["faults"]
    assert faults > 0
    assert rel["node_down_hours"] >= faults * 4 * 4 * 0.5  # 4 nodes each, 4 h repair (some clipped)


@pytest.mark.parametrize("policy", ["none", "exclude", "hot_swap"])
def test_stragglers_slow_or_move_jobs(tmp_path: Path, policy: str) -> None:
    base = simulate(_scenario(tmp_path, ["failures.models={gpu: {rate_per_unit_hour: 0}}"]))
    slow = simulate(_scenario(tmp_path, [
        "failures.models={straggler: {rate_per_unit_hour: 0.002, slowdown: 0.5}}",
        f"failures.straggler_policy={policy}", "failures.rate_scale=1"]))
    assert slow.summary["reliability"]["by_cause"]["straggler"]["faults"] > 0
    assert slow.summary["makespan_s"] != base.summary["makespan_s"]
    assert all(j.status == "completed" for j in slow.jobs)


STRAGGLERS = ["failures.models={straggler: {rate_per_unit_hour: 0.004, slowdown: 0.5}}",
              "failures.rate_scale=1", "failures.spares=2"]


def test_hot_swap_replaces_slow_nodes_in_place(tmp_path: Path) -> None:
    """With spares, a detected straggler's node is swapped under its jobs: no
    interruption, no lost work, the jobs stall for the swap only; exclude re-places them
    (interrupted, back through the queue)."""
    swap = simulate(_scenario(tmp_path, [*STRAGGLERS, "failures.straggler_policy=hot_swap"]))
    excl = simulate(_scenario(tmp_path, [*STRAGGLERS, "failures.straggler_policy=exclude"]))
    rs, rx = swap.summary["reliability"], excl.summary["reliability"]
    assert rs["hot_swaps"] > 0 and rx["hot_swaps"] == 0
    assert rs["by_cause"]["straggler"]["faults"] == rx["by_cause"]["straggler"]["faults"]
    # a swap interrupts nobody unless no spare was left
    assert rs["by_cause"]["straggler"]["interruptions"] < rx["by_cause"]["straggler"][
        "interruptions"]
    assert all(j.status == "completed" for j in swap.jobs)
    assert swap.summary["makespan_s"] <= excl.summary["makespan_s"]
    again = simulate(_scenario(tmp_path, [*STRAGGLERS, "failures.straggler_policy=hot_swap"]))
    assert again.summary["reliability"] == rs


def test_hot_swap_without_spares_falls_back_to_exclude(tmp_path: Path) -> None:
    none_left = [*STRAGGLERS[:2], "failures.spares=0"]
    swap = simulate(_scenario(tmp_path, [*none_left, "failures.straggler_policy=hot_swap"]))
    excl = simulate(_scenario(tmp_path, [*none_left, "failures.straggler_policy=exclude"]))
    assert swap.summary["reliability"]["hot_swaps"] == 0
    assert swap.summary["reliability"] == excl.summary["reliability"]


def test_no_failures_section_no_reliability_key(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(SMALL.replace("failures: {rate_scale: 300}\n", ""), encoding="utf-8")
    assert "reliability" not in simulate(load_scenario(path)).summary


def test_unknown_fault_model_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="gpux"):
        _scenario(tmp_path, ["failures.models={gpux: {}}"])


def test_summary_names_the_fault_rates_it_used(tmp_path: Path) -> None:
    """Each model's rate as run, scaled, with the catalog row it comes from; a rate given in
    the scenario (the switch here) says so."""
    sc = _scenario(tmp_path, ["failures.models={gpu: {}, switch: {rate_per_unit_hour: 1e-5}}"])
    rates = simulate(sc).summary["reliability"]["fault_rates"]
    assert "Llama 3" in rates["catalog"]
    gpu, switch = rates["models"]["gpu"], rates["models"]["switch"]
    assert gpu["unit"] == "gpu" and gpu["source"].startswith("300 x the catalog rate (Llama 3")
    assert gpu["rate_per_unit_hour"] == pytest.approx(300 * 9.231e-6)
    assert switch["source"] == "given (no catalog rate)"
    assert switch["rate_per_unit_hour"] == pytest.approx(300 * 1e-5)


def _crash_loop_job(tmp_path: Path, interval: str) -> tuple[str, dict[str, Any]]:
    """One job under a GPU fault every ~1.5 h on its GPUs (repaired in a minute) with
    checkpoints ``interval`` apart and a stall limit of 4: its status and the summary."""
    sc = _scenario(tmp_path, [
        "workload.synthetic.num_jobs=1",
        "failures.models={gpu: {rate_per_unit_hour: 0.01, repair: 1min}}",
        "failures.rate_scale=1", f"failures.checkpoint_interval={interval}",
        "failures.max_stalled_restarts=4"])
    result = simulate(sc)
    (job,) = result.jobs
    return job.status, result.summary


def test_crash_loop_fails_the_job_after_the_stall_limit(tmp_path: Path) -> None:
    """Checkpoints a year apart: no restart ever keeps work, so the job fails as abandoned
    after ``max_stalled_restarts`` interruptions in a row; the run ends with it counted."""
    status, summary = _crash_loop_job(tmp_path, "365d")
    assert status == "failed"
    assert summary["failed_by_reason"] == {
        "abandoned: 4 interruptions in a row kept no work (faults strike before a restart "
        "reaches a checkpoint)": 1}
    assert summary["reliability"]["interruptions"] == 4


def test_a_kept_checkpoint_resets_the_stall_count(tmp_path: Path) -> None:
    """The same faults with checkpoints a minute apart: restarts keep work, so the job is
    never abandoned however often it is interrupted."""
    status, summary = _crash_loop_job(tmp_path, "1min")
    assert status == "completed"
    assert summary["reliability"]["interruptions"] > 4


def test_faults_faster_than_a_second_are_refused(tmp_path: Path) -> None:
    """Rates no job could restart between (here ~1e15 faults a simulated second) are
    refused before the run, naming the section, instead of a run that never ends."""
    with pytest.raises(InputError, match=r"failures: the fault rates strike the cluster's "
                       r"96 GPUs every .* s on average; a run needs at least 1 s"):
        simulate(_scenario(tmp_path, ["failures.rate_scale=1e20"]))
