"""The openb experiments (Alibaba GPU 2023 trace, Weng et al. ATC'23) through the real
framework: the cluster from the node list, pods from the pod list.

The paper's headline (Sec. 6, workload inflation): once the arrived GPU demand nears the
cluster's capacity, FGD leaves less of it unallocated than packing heuristics such as
best-fit. Skipped when the trace is absent.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from gputwin.catalog.loader import default_catalog
from gputwin.cli.main import cli
from gputwin.run.world import build_hardware, read_scenario_trace, trace_layout
from gputwin.scenario import load_scenario
from gputwin.scenario.paths import data_dir
from gputwin.scheduling.inflation import inflate
from gputwin.scheduling.plugins.sharing import InventoryLayout, NodeInventory, inventory_layout
from gputwin.workload.job import JobSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
OPENB = data_dir() / "traces" / "alibaba-gpu-v2023"
PODS = OPENB / "openb_pod_list_default.csv"

needs_trace = pytest.mark.skipif(not PODS.is_file(),
                                 reason=f"openb trace not present at {OPENB}")


@cache
def _openb() -> tuple[InventoryLayout, tuple[JobSpec, ...]]:
    sc = load_scenario(EXAMPLES / "openb-fgd.yaml")
    trace = read_scenario_trace(sc)
    assert trace is not None
    layout = trace_layout(sc, build_hardware(sc, default_catalog()), trace.nodes)
    assert isinstance(layout, InventoryLayout)
    return layout, tuple(trace.jobs)


def _quarter(layout: InventoryLayout, offset: int) -> InventoryLayout:
    inv = layout.inventory
    assert inv is not None
    idx = range(offset, inv.num_nodes, 4)
    sub = NodeInventory(tuple(inv.gpus[i] for i in idx), tuple(inv.models[i] for i in idx),
                        tuple(inv.cpu_milli[i] for i in idx),
                        tuple(inv.memory_bytes[i] for i in idx))
    return inventory_layout(sub, nodes_per_leaf=layout.nodes_per_leaf)


@needs_trace
def test_cluster_and_pods_come_from_the_trace() -> None:
    layout, jobs = _openb()
    # README of the trace: 1,523 nodes; workloads.md: 6,212 GPUs; 8,152 pods of which
    # 1,088 are CPU-only (not jobs here).
    assert (layout.num_nodes, layout.total_gpus, len(jobs)) == (1523, 6212, 8152 - 1088)
    assert layout.inventory is not None and "V100M32" in layout.inventory.models
    assert any(j.is_fractional for j in jobs)
    assert not any(j.gpu_type for j in jobs)  # the default pod list has no gpu_spec


@needs_trace
def test_fgd_leaves_fewer_gpus_unallocated_than_bestfit_at_high_load() -> None:
    # A quarter of the cluster (every 4th node, ~1,550 GPUs) keeps this test fast; the full
    # cluster is in the benchmark (pytest -m bench, bench/bench_openb.py).
    layout, jobs = _openb()
    small = _quarter(layout, 1)
    fgd = inflate("fgd", jobs, small, marks=(0.95, 1.0), seed=1)
    best = inflate("bestfit", jobs, small, marks=(0.95, 1.0), seed=1)
    assert fgd.unallocated_gpus[0] < best.unallocated_gpus[0]
    assert fgd.unallocated_gpus[1] < best.unallocated_gpus[1]
    # and it runs the cluster fuller before the first pod fails
    assert fgd.first_failure_frac is not None and best.first_failure_frac is not None
    assert fgd.first_failure_frac >= best.first_failure_frac - 0.005


@needs_trace
@pytest.mark.bench
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_cluster_inflation_fgd_vs_bestfit_vs_packing(seed: int) -> None:
    layout, jobs = _openb()
    res = {p: inflate(p, jobs, layout, marks=(0.9, 0.95, 1.0), seed=seed)
           for p in ("fgd", "bestfit", "gpu-packing")}
    for p, r in res.items():
        print(f"\nseed {seed} {p}: unallocated GPUs at {r.marks} = "
              f"{[round(x, 1) for x in r.unallocated_gpus]}, first failure at "
              f"{r.first_failure_frac:.3f} of capacity")
    assert res["fgd"].unallocated_gpus[1] < res["bestfit"].unallocated_gpus[1]
    assert res["fgd"].unallocated_gpus[2] < res["bestfit"].unallocated_gpus[2]


@needs_trace
def test_simulate_openb_example_prints_json_summary(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["simulate", str(EXAMPLES / "openb-fgd.yaml"), "--json",
                              "--set", "workload.trace.max_jobs=600",
                              "--set", "experiment=null", "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output[out.output.index("{"):])
    assert summary["num_jobs"] == 600 and summary["jobs_by_status"]["completed"] == 600
    assert 0.0 < summary["gpu_allocation_peak_frac"] <= 1.0


def test_examples_validate() -> None:
    for name in ("openb-fgd", "openb-bestfit", "openb-binpack"):
        sc_text = (EXAMPLES / f"{name}.yaml").read_text()
        assert "from_trace: true" in sc_text
    if PODS.is_file():
        for name in ("openb-fgd", "openb-bestfit", "openb-binpack"):
            sc = load_scenario(EXAMPLES / f"{name}.yaml")
            assert sc.cluster.from_trace and sc.workload.trace is not None


def test_from_trace_needs_a_trace_with_nodes_and_num_nodes_otherwise(tmp_path: Path) -> None:
    from gputwin.errors import InputError
    from gputwin.run.simulate import simulate

    base = "name: x\ncluster: {system: dgx-a100%s}\nworkload:\n  %s\n"
    no_nodes = tmp_path / "a.yaml"
    no_nodes.write_text(base % ("", "synthetic: {num_jobs: 1, arrival: {mean_interarrival: 1h}, "
                                "templates: [{model: llama3-8b, num_gpus: 8, "
                                "global_batch_size: 8, tokens: 1e6}]}"))
    with pytest.raises(InputError, match="num_nodes"):
        load_scenario(no_nodes)
    csv = tmp_path / "philly.csv"
    csv.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n"
                   "2017-10-03 10:00:00,60,1,60,c1\n")
    philly = tmp_path / "b.yaml"
    philly.write_text(base % (", from_trace: true",
                              f"trace: {{format: philly_csv, path: {csv}}}"))
    with pytest.raises(InputError, match="no GPU nodes"):
        simulate(load_scenario(philly))
