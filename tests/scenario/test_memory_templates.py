"""Synthetic training templates carry the memory-saving knobs (recomputed modules or layers,
activation offload, state precision): checked at load time with the file, line and key, and
run by the jobs they generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.run.world import job_template
from gputwin.scenario import load_scenario
from gputwin.scenario.schema import TemplateConfig

BASE = """\
name: memory
seed: 1
cluster: {system: gb200-nvl72, num_nodes: 16}
workload:
  synthetic:
    num_jobs: 2
    arrival: {process: fixed, mean_interarrival: 1h}
    templates:
      - {kind: pretrain, model: llama3-70b, num_gpus: 64, zero_stage: 3, micro_batch_size: 2,
         global_batch_size: 128, seq_len: 8192, dtype: fp8, tokens: 1e9, KNOBS}
scheduler: {policy: fifo}
"""


def _template(tmp_path: Path, knobs: str) -> TemplateConfig:
    path = tmp_path / "scenario.yaml"
    path.write_text(BASE.replace("KNOBS", knobs), encoding="utf-8")
    synthetic = load_scenario(path).workload.synthetic
    assert synthetic is not None
    return synthetic.templates[0]


def test_template_memory_knobs_reach_the_job(tmp_path: Path) -> None:
    t = _template(tmp_path, "recompute: none, offload_activation_layers: 40, "
                            "fused_cross_entropy: true, adam_moments_bf16: true")
    assert t.layout_given  # a template that names a memory knob gives its own layout
    job = job_template(t)
    assert job.parallel.offload_activation_layers == 40
    assert job.parallel.fused_cross_entropy and job.parallel.adam_moments_bf16
    selective = job_template(_template(tmp_path, "recompute_modules: [layernorm, mlp]"))
    assert selective.training.recompute_modules == ("layernorm", "mlp")
    block = job_template(_template(tmp_path, "recompute: full, recompute_num_layers: 5"))
    assert block.training.recompute_num_layers == 5
    fine = job_template(_template(tmp_path, "offload_modules: [expert_fc1, moe_act]"))
    assert fine.parallel.offload_modules == ("expert_fc1", "moe_act")


@pytest.mark.parametrize(("knobs", "key"), [
    ("offload_activation_layers: 40", "offload_activation_layers"),  # needs recompute none
    ("recompute: full, recompute_modules: [mlp]", "recompute_modules"),
    ("recompute_num_layers: 3", "recompute_num_layers"),
    ("recompute: none, offload_activation_layers: 4, offload_modules: [moe_act]",
     "offload_modules"),
])
def test_a_bad_memory_knob_names_its_line_and_key(tmp_path: Path, knobs: str,
                                                  key: str) -> None:
    with pytest.raises(InputError) as info:
        _template(tmp_path, knobs)
    assert f"scenario.yaml:10: workload.synthetic.templates[0].{key}" in str(info.value)
