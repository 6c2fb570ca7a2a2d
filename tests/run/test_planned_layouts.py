"""Cluster-simulation templates without a layout get the planner's, and the run says so."""

from __future__ import annotations

from pathlib import Path

from gputwin.run.simulate import simulate
from gputwin.scenario.load import load_scenario

SCENARIO = """\
name: planned
seed: 3
cluster: {system: dgx-h100, num_nodes: 8}
workload:
  synthetic:
    num_jobs: 12
    arrival: {process: poisson, mean_interarrival: 30min}
    templates:
      - {model: llama3-70b, num_gpus: [32, 64], global_batch_size: 128, tokens: 2e8}
      - {model: llama3-8b, num_gpus: 8, tp: 2, global_batch_size: 64, seq_len: 4096,
         tokens: 1e8}
scheduler: {profile: fifo}
"""


def test_templates_without_a_layout_are_planned(tmp_path: Path) -> None:
    path = tmp_path / "planned.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    result = simulate(load_scenario(path))
    planned = result.summary["planned_layouts"]
    assert {p["template"] for p in planned} == {0}  # the second gives tp: it is kept
    assert sorted(p["num_gpus"] for p in planned) == [32, 64]
    for p in planned:
        assert p["seq_len"] == 8192  # llama3-70b's training length (catalog)
        assert p["tp"] * p["pp"] * p["cp"] <= p["num_gpus"]
    jobs = {j.job_id: j for j in result.jobs}
    assert all(j.status == "completed" for j in jobs.values())
    # a 70B model does not fit 32 GPUs without model parallelism: the plan split it
    assert all(p["tp"] * p["pp"] > 1 for p in planned)
