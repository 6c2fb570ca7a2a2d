"""Hot spares are held out of the pool: holding every node as a spare is refused, and a
job larger than the pool fails with a reason instead of waiting for ever (a run without a
horizon used to never end: faults keep drawing events while the job sits in the queue)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.api import load_scenario, simulate
from gputwin.errors import InputError

BASE = """\
name: spares
seed: 3
cluster: {system: dgx-h100, num_nodes: 4}
workload:
  synthetic:
    num_jobs: 6
    arrival: {mean_interarrival: 20min}
    templates:
      - {model: llama3-8b, num_gpus: 8, duration: 1h}
      - {model: llama3-8b, num_gpus: 24, duration: 1h}
failures: {spares: %d}
"""


def _scenario(tmp_path: Path, spares: int) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(BASE % spares)
    return path


def test_every_node_a_spare_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"failures\.spares"):
        simulate(load_scenario(_scenario(tmp_path, 4)))


def test_job_larger_than_the_pool_fails_with_a_reason(tmp_path: Path) -> None:
    result = simulate(load_scenario(_scenario(tmp_path, 2)))  # pool: 2 nodes, 16 GPUs
    summary = result.summary
    by_status = summary["jobs_by_status"]
    assert by_status["queued"] == 0 and by_status["running"] == 0
    assert by_status["completed"] + by_status["failed"] == 6
    reasons = summary["failed_by_reason"]
    assert by_status["failed"] > 0
    assert all("the pool has 16" in r and "hot-spare" in r for r in reasons)


def test_jobs_that_fit_the_pool_still_run(tmp_path: Path) -> None:
    result = simulate(load_scenario(_scenario(tmp_path, 1)))  # pool: 3 nodes, 24 GPUs
    assert result.summary["jobs_by_status"]["completed"] == 6
