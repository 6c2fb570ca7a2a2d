"""Synthetic training templates carry the MoE dispatch and the pipeline schedule: checked
at load time with the file, line and key, and run by the jobs they generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.training import estimate_training
from gputwin.run.world import job_template
from gputwin.scenario import load_scenario
from gputwin.scenario.schema import TemplateConfig
from gputwin.topology.hardware import resolve_hardware

BASE = """\
name: moe
seed: 1
horizon: 2d
cluster:
  system: dgx-h100
  num_nodes: 16
workload:
  synthetic:
    num_jobs: 4
    arrival: {process: poisson, mean_interarrival: 1h}
    templates:
      - {kind: pretrain, model: deepseek-v3, num_gpus: 128, pp: 8, interleave: 2, ep: 16,
         dtype: fp8, global_batch_size: 256, seq_len: 4096, tokens: 1e9, LAYOUT}
scheduler: {policy: fifo, placement: leaf_pack}
"""


def _template(tmp_path: Path, layout: str, base: str = BASE) -> TemplateConfig:
    path = tmp_path / "scenario.yaml"
    path.write_text(base.replace("LAYOUT", layout), encoding="utf-8")
    synthetic = load_scenario(path).workload.synthetic
    assert synthetic is not None
    return synthetic.templates[0]


def test_template_dispatch_reaches_the_job_layout(tmp_path: Path) -> None:
    job = job_template(_template(tmp_path, "ep_dispatcher: deepep, moe_a2a_overlap: true"))
    assert job.parallel.ep_dispatcher == "deepep" and job.parallel.moe_a2a_overlap
    assert job.parallel.interleave == 2
    plain, _ = _template(tmp_path, "sequence_parallel: false").layout(4096)
    cat = default_catalog()
    hw = resolve_hardware(cat, system="dgx-h100")
    model = cat.model("deepseek-v3")
    fast = estimate_training(model, hw, 128, job.parallel, job.training, check_memory=False)
    slow = estimate_training(model, hw, 128, plain, job.training, check_memory=False)
    assert fast.step_time_s < slow.step_time_s


@pytest.mark.parametrize(("old", "layout", "key", "needs"), [
    ("interleave: 2", "moe_a2a_overlap: true", "moe_a2a_overlap", "interleave > 1"),
    ("interleave: 2", "pipeline_schedule: dualpipe", "pipeline_schedule", "interleave 1"),
])
def test_a_schedule_the_layout_cannot_run_names_line_and_key(
        tmp_path: Path, old: str, layout: str, key: str, needs: str) -> None:
    base = BASE.replace(old, "interleave: 1") if key == "moe_a2a_overlap" else BASE
    with pytest.raises(InputError) as info:
        _template(tmp_path, layout, base)
    message = str(info.value)
    assert f"scenario.yaml:13: workload.synthetic.templates[0].{key}:" in message
    assert needs in message
