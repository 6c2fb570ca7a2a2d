"""Builders for run tests: small scenarios written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.scenario import Scenario, load_scenario

SMALL = """\
name: small
seed: 3
cluster:
  system: dgx-h100
  num_nodes: 8
  network: {topology: fat_tree, nodes_per_leaf: 4, oversubscription: 2.0}
  storage: lustre
workload:
  synthetic:
    num_jobs: 60
    arrival: {process: poisson, mean_interarrival: 30min}
    templates:
      - {weight: 4, kind: finetune, model: llama3-8b, num_gpus: [8, 16], global_batch_size: 64,
         seq_len: 4096, tokens: [2e8, 2e9], startup_overhead: 1min}
      - {weight: 1, kind: pretrain, model: llama3-8b, num_gpus: [32, 64], tp: 2,
         global_batch_size: 512, seq_len: 4096, tokens: [5e9, 2e10]}
scheduler: {policy: fifo, placement: first_fit}
"""


@pytest.fixture
def small_path(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture
def small(small_path: Path) -> Scenario:
    return load_scenario(small_path)


def with_template_gpus(sc: Scenario, index: int, num_gpus: int) -> Scenario:
    """``sc`` with template ``index`` drawing ``num_gpus`` GPUs, past the load check (a
    template larger than the cluster is refused at load; a trace's job may still be)."""
    synthetic = sc.workload.synthetic
    assert synthetic is not None
    templates = list(synthetic.templates)
    templates[index] = templates[index].model_copy(update={"num_gpus": num_gpus})
    return sc.model_copy(update={"workload": sc.workload.model_copy(update={
        "synthetic": synthetic.model_copy(update={"templates": templates})})})
