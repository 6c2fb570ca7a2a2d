"""The scheduler's speed-ups are exact: every job starts at the same time on the same
nodes with the shortcuts on as with them off (``build_world(..., shortcuts=False)``: the plain
walk — every queued job tried, every cycle run, no shape memo, no cached reservation).

Contended workloads: the Philly virtual cluster 0e4a51 on 96 GPUs (trace replay, when the
data set is present) and a synthetic mix of single-node jobs and multi-node gangs arriving
faster than a small cluster can serve them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.run.simulate import simulate_world
from gputwin.run.world import build_world
from gputwin.scenario import load_scenario
from gputwin.scenario.paths import data_dir
from gputwin.sim.rng import RandomStreams

PHILLY = data_dir() / "traces" / "philly-adaptdl" / "philly.csv"

PHILLY_SLICE = """\
name: philly-slice
seed: 1
cluster:
  system: dgx-a100
  num_nodes: 12
  network: {topology: fat_tree, nodes_per_leaf: 4, oversubscription: 2.0}
workload:
  trace: {format: philly_csv, path: traces/philly-adaptdl/philly.csv, cluster: 0e4a51}
scheduler: {profile: fifo}
"""

SYNTHETIC = """\
name: contended
seed: 11
cluster:
  system: dgx-h100
  num_nodes: 6
  network: {topology: fat_tree, nodes_per_leaf: 2, oversubscription: 2.0}
workload:
  synthetic:
    num_jobs: 400
    arrival: {process: poisson, mean_interarrival: 4min}
    templates:
      - {weight: 6, kind: finetune, model: llama3-8b, num_gpus: [1, 2, 4, 8],
         global_batch_size: 64, seq_len: 4096, tokens: [2e7, 5e8], startup_overhead: 1min}
      - {weight: 2, kind: pretrain, model: llama3-8b, num_gpus: [12, 16, 24], tp: 2,
         global_batch_size: 512, seq_len: 4096, tokens: [1e9, 5e9]}
      - {weight: 1, kind: pretrain, model: llama3-8b, num_gpus: [40, 48], tp: 2,
         global_batch_size: 512, seq_len: 4096, tokens: [2e9, 8e9]}
scheduler: {profile: fifo}
"""

PROFILES = [
    "{profile: fifo}",
    "{profile: best-effort}",
    "{profile: drf}",
    "{profile: backfill-easy, args: {backfill: {runtime_estimate: predicted,"
    " runtime_factor: 1.5}}}",
    "{profile: backfill-easy, args: {backfill: {runtime_estimate: oracle, max_job_test: 20}}}",
    "{profile: backfill-easy, args: {backfill: {runtime_estimate: user_limit,"
    " default_limit_s: 86400}}}",
    "{profile: backfill-conservative, args: {backfill: {runtime_estimate: predicted,"
    " max_job_test: 40}}}",
    "{profile: backfill-conservative, args: {backfill: {runtime_estimate: user_limit,"
    " default_limit_s: 86400}}}",
    "{profile: multifactor, args: {backfill: {mode: conservative,"
    " runtime_estimate: oracle, max_job_test: 100}}}",
]


def _schedule(path: Path, profile: str, shortcuts: bool) -> list[tuple[object, ...]]:
    scenario = load_scenario(path, [f"scheduler={profile}"])
    world = build_world(scenario, default_catalog(), RandomStreams(scenario.seed),
                        shortcuts=shortcuts)
    result = simulate_world(world, name=scenario.name, seed=scenario.seed,
                            horizon_s=scenario.horizon)
    return [(j.job_id, j.status, j.start_time_s, j.end_time_s, j.num_nodes, j.num_leaves)
            for j in result.jobs]


def _check(path: Path, profile: str) -> None:
    reference = _schedule(path, profile, False)
    fast = _schedule(path, profile, True)
    waited = sum(1 for r in reference if r[2] is not None and r[2] > 0)
    assert waited > 0  # the workload queues (otherwise the check is vacuous)
    mismatch = [(r, f) for r, f in zip(reference, fast, strict=True) if r != f]
    assert not mismatch, f"{len(mismatch)} jobs differ, first: {mismatch[0]}"


@pytest.mark.parametrize("profile", PROFILES)
def test_shortcuts_exact_on_contended_synthetic(tmp_path: Path, profile: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SYNTHETIC, encoding="utf-8")
    _check(path, profile)


@pytest.mark.skipif(not PHILLY.is_file(), reason=f"Philly trace not found at {PHILLY}")
@pytest.mark.parametrize("profile", PROFILES)
def test_shortcuts_exact_on_philly_slice(tmp_path: Path, profile: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PHILLY_SLICE, encoding="utf-8")
    _check(path, profile)
