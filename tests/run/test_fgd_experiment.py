"""The FGD paper's experiment through `gputwin simulate` (examples/openb-*.yaml with
``experiment: workload_inflation``), checked against the published figure.

Published (Weng et al., "Beware of Fragmentation", USENIX ATC'23, Fig. 9a; the numbers
behind it are the artifact's ``experiments/analysis/expected_results/
analysis_allo_discrete.csv`` in hkust-adsl/kubernetes-scheduler-simulator, trace
``openb_pod_list_default``, 10 seeds): GPU allocation rate when the arrived GPU demand
reaches 100 % of the 6,212 GPUs — FGD 95.23 %, best-fit 92.86 % (so 296 vs 443 GPUs
unallocated, 33 % fewer); the abstract: "up to 49 %" fewer than packing baselines.

What we get (seed 0): FGD 95.12 %, best-fit 93.80 %: FGD's level is within 0.2 points,
our best-fit is ~0.9 points better than the paper's (its simulator scores nodes in whole
points 0..100 normalised by the largest node and breaks ties at random; ours ranks exactly),
so our gap is smaller (304 vs 386 GPUs, 21 % fewer). CPU-only pods are not modelled.
Skipped when the trace is absent.
"""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gputwin.cli.main import cli
from gputwin.scenario.paths import data_dir

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PODS = data_dir() / "traces" / "alibaba-gpu-v2023" / "openb_pod_list_default.csv"
needs_trace = pytest.mark.skipif(not PODS.is_file(), reason=f"openb trace not present at {PODS}")

PUBLISHED_ALLOC_AT_100 = {"fgd": 0.9523, "bestfit": 0.9286}
ALLOC_TOLERANCE = {"fgd": 0.01, "bestfit": 0.015}  # absolute, share of capacity


@cache
def _run(example: str) -> dict[str, Any]:
    out = CliRunner().invoke(cli, ["simulate", str(EXAMPLES / example), "--json", "--out",
                                   str(Path(tempfile.mkdtemp(prefix="gputwin-fgd-")) / "out"),
                                   "--set", "experiment.demand=[0.9, 0.95, 1.0]"])
    assert out.exit_code == 0, out.output
    summary: dict[str, Any] = json.loads(out.output[out.output.index("{"):])
    return summary


@needs_trace
@pytest.mark.parametrize(("example", "profile"), [("openb-fgd.yaml", "fgd"),
                                                  ("openb-bestfit.yaml", "bestfit")])
def test_allocation_at_full_demand_matches_the_paper(example: str, profile: str) -> None:
    s = _run(example)
    curve = s["inflation"][profile]
    assert curve["demand"] == [0.9, 0.95, 1.0]
    alloc = s["gpu_allocated_frac_at_full_demand"]
    assert alloc == pytest.approx(PUBLISHED_ALLOC_AT_100[profile], abs=ALLOC_TOLERANCE[profile])
    # nothing is short at 90 % demand (the paper: every policy allocates all of it)
    assert curve["unallocated_gpus"][0] < 0.01 * curve["capacity_gpus"]
    assert curve["fragmented_gpus"] is not None and curve["fragmented_gpus"][2] > 0


@needs_trace
def test_fgd_leaves_clearly_fewer_gpus_unallocated_than_bestfit() -> None:
    fgd = _run("openb-fgd.yaml")["unallocated_gpus_at_full_demand"]
    best = _run("openb-bestfit.yaml")["unallocated_gpus_at_full_demand"]
    # published: 33 % fewer (296 vs 443); ours ~21 % (see the module doc)
    assert fgd < 0.9 * best
    at95 = (_run("openb-fgd.yaml")["inflation"]["fgd"]["unallocated_gpus"][1],
            _run("openb-bestfit.yaml")["inflation"]["bestfit"]["unallocated_gpus"][1])
    assert at95[0] < 0.5 * at95[1]  # FGD packs ~all of the 95 % mark, best-fit does not


def test_experiment_needs_a_trace(tmp_path: Path) -> None:
    from gputwin.errors import InputError
    from gputwin.scenario import load_scenario

    f = tmp_path / "x.yaml"
    f.write_text("name: x\ncluster: {system: dgx-a100, num_nodes: 2}\nworkload:\n"
                 "  synthetic: {num_jobs: 1, arrival: {mean_interarrival: 1h}, templates: "
                 "[{model: llama3-8b, num_gpus: 8, global_batch_size: 8, tokens: 1e6}]}\n"
                 "experiment: {kind: workload_inflation}\n")
    with pytest.raises(InputError, match=r"workload\.trace"):
        load_scenario(f)
    f.write_text(f.read_text().replace("{kind: workload_inflation}", "{demand: [0]}"))
    with pytest.raises(InputError, match="demand"):
        load_scenario(f)
