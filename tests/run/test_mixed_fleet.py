"""Mixed fleets: node groups of several GPU types in one cluster (cluster.node_groups)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

BASE = """\
name: mixed
seed: 2
cluster:
  CLUSTER
  network: {nodes_per_leaf: 4}
workload:
  synthetic:
    num_jobs: 30
    arrival: {process: poisson, mean_interarrival: 2h}
    templates:
      - {kind: finetune, model: llama3-8b, num_gpus: 8, tp: 1, global_batch_size: 64,
         seq_len: 4096, tokens: 1e9, GPU}
scheduler: {policy: fifo, placement: first_fit}
"""
GROUPS = """node_groups:
    - {system: dgx-h100, num_nodes: 4}
    - {system: dgx-a100, num_nodes: 4}"""


def _load(tmp_path: Path, cluster: str = GROUPS, gpu: str = "",
          overrides: list[str] | None = None,
          template: tuple[str, str] = ("", "")):  # type: ignore[no-untyped-def]
    """BASE with ``cluster``, the template's ``GPU`` slot and one template text swapped."""
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("CLUSTER", cluster).replace(", GPU", gpu)
                    .replace(*template))
    return load_scenario(path, overrides or [])


def _step_times(result) -> set[float]:  # type: ignore[no-untyped-def]
    return {round(j.step_time_s, 9) for j in result.jobs if j.step_time_s}


def test_each_type_runs_at_its_own_speed(tmp_path: Path) -> None:
    on_h100 = simulate(_load(tmp_path, gpu=", gpu: h100-sxm-80gb"))
    on_a100 = simulate(_load(tmp_path, gpu=", gpu: a100-sxm-80gb"))
    alone_h100 = simulate(_load(tmp_path, "system: dgx-h100\n  num_nodes: 4"))
    alone_a100 = simulate(_load(tmp_path, "system: dgx-a100\n  num_nodes: 4"))
    assert _step_times(on_h100) == _step_times(alone_h100)
    assert _step_times(on_a100) == _step_times(alone_a100)
    (h,), (a,) = _step_times(on_h100), _step_times(on_a100)
    assert a > 1.5 * h  # the A100 is the slower part
    groups = {g["gpu"]: g for g in on_a100.summary["node_groups"]}
    assert groups["a100-sxm-80gb"]["jobs"] == 30 and groups["h100-sxm-80gb"]["jobs"] == 0
    assert groups["a100-sxm-80gb"]["gpus"] == 32


def test_unpinned_jobs_use_both_types_in_group_order(tmp_path: Path) -> None:
    res = simulate(_load(tmp_path, overrides=["workload.synthetic.arrival.mean_interarrival=1min"]))
    groups = {g["gpu"]: g for g in res.summary["node_groups"]}
    assert groups["h100-sxm-80gb"]["jobs"] > 0 and groups["a100-sxm-80gb"]["jobs"] > 0
    assert res.summary["jobs_by_status"]["completed"] == 30
    assert len(_step_times(res)) == 2  # one speed per type, never a mixed gang


def test_jobs_go_only_where_they_fit(tmp_path: Path) -> None:
    # 70B at tp 8 on 32 GPUs needs ~92 GiB per GPU: only the H200 nodes hold it
    cluster = """node_groups:
    - {system: dgx-h100, num_nodes: 8}
    - {system: hgx-h200, num_nodes: 8}"""
    res = simulate(_load(tmp_path, cluster, overrides=["workload.synthetic.num_jobs=6"],
                         template=("model: llama3-8b, num_gpus: 8, tp: 1, global_batch_size: 64",
                                   "model: llama3-70b, num_gpus: 32, tp: 8, "
                                   "global_batch_size: 256")))
    assert res.summary["jobs_by_status"]["completed"] == 6
    groups = {g["gpu"]: g for g in res.summary["node_groups"]}
    assert groups["h200-sxm-141gb"]["jobs"] == 6 and groups["h100-sxm-80gb"]["jobs"] == 0


def test_node_shapes_differ_per_type(tmp_path: Path) -> None:
    """8-GPU DGX H100 nodes beside 4-GPU GB200 trays: each gang takes its type's shape."""
    cluster = """node_groups:
    - {system: dgx-h100, num_nodes: 4}
    - {system: gb200-nvl72, num_nodes: 8}"""
    res = simulate(_load(tmp_path, cluster,
                         overrides=["workload.synthetic.arrival.mean_interarrival=5min"],
                         template=("num_gpus: 8, tp: 1", "num_gpus: [4, 8, 16], tp: 1")))
    assert res.summary["jobs_by_status"]["completed"] == 30
    assert res.total_gpus == 4 * 8 + 8 * 4
    groups = {g["gpu"]: g for g in res.summary["node_groups"]}
    assert groups["gb200"]["gpus"] == 32 and groups["h100-sxm-80gb"]["gpus"] == 32
    assert groups["gb200"]["jobs"] > 0 and groups["h100-sxm-80gb"]["jobs"] > 0
    shapes = {(j.num_gpus, j.num_nodes) for j in res.jobs}
    # H100: 8 per node; GB200: 4 per node (a 16-GPU gang is 2 or 4 nodes)
    assert shapes <= {(4, 1), (8, 1), (8, 2), (16, 2), (16, 4)}
    assert (8, 2) in shapes or (16, 4) in shapes


@pytest.mark.parametrize(("cluster", "gpu", "message"), [
    ("system: dgx-h100\n  " + GROUPS, "", "node_groups replaces system"),
    (GROUPS, ", gpu: b200", "b200"),
    ("node_groups:\n    - {system: dgx-h1000, num_nodes: 2}", "", "dgx-h1000"),
])
def test_bad_groups_name_the_field(tmp_path: Path, cluster: str, gpu: str,
                                   message: str) -> None:
    with pytest.raises(InputError, match=message):
        _load(tmp_path, cluster, gpu)


FLAVOURS = """\
name: mixed-kueue
seed: 3
cluster:
  node_groups:
    - {system: dgx-h100, num_nodes: 4}
    - {system: dgx-a100, num_nodes: 4}
  network: {nodes_per_leaf: 4}
workload:
  synthetic:
    num_jobs: 40
    arrival: {process: poisson, mean_interarrival: 20min}
    templates:
      - {tenant: team-a, kind: finetune, model: llama3-8b, num_gpus: 8, tp: 1,
         global_batch_size: 64, seq_len: 4096, tokens: 1e9}
      - {tenant: team-b, kind: finetune, model: llama3-8b, num_gpus: 8, tp: 1,
         global_batch_size: 64, seq_len: 4096, tokens: 1e9}
scheduler: {profile: fifo}
tenancy:
  flavors: {h100: h100-sxm-80gb, a100: a100-sxm-80gb}
  cluster_queues:
    team-a: {quotas: {h100: 32}}
    team-b: {quotas: {a100: 32}}
"""


def test_kueue_flavours_send_each_queue_to_its_gpu_type(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(FLAVOURS)
    res = simulate(load_scenario(path))
    assert res.summary["jobs_by_status"]["completed"] == 40
    speeds = {j.tenant: set() for j in res.jobs}
    for j in res.jobs:
        speeds[j.tenant].add(round(j.step_time_s or 0, 9))
    (a,), (b,) = speeds["team-a"], speeds["team-b"]
    assert b > 1.5 * a  # team-b's flavour is the A100 nodes
    groups = {g["gpu"]: g for g in res.summary["node_groups"]}
    counts = {t: sum(1 for j in res.jobs if j.tenant == t) for t in ("team-a", "team-b")}
    assert groups["h100-sxm-80gb"]["jobs"] == counts["team-a"]
    assert groups["a100-sxm-80gb"]["jobs"] == counts["team-b"]


def test_a_flavour_of_a_type_the_cluster_lacks_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(FLAVOURS.replace("a100: a100-sxm-80gb", "a100: b200"))
    with pytest.raises(InputError, match="flavour 'a100' is GPU type 'b200'"):
        simulate(load_scenario(path))


def test_admission_skips_flavours_the_job_does_not_fit(tmp_path: Path) -> None:
    # 70B at tp 8 on 32 GPUs fits only the H200 nodes; the queue lists H100 first
    text = FLAVOURS.replace("dgx-a100, num_nodes: 4", "hgx-h200, num_nodes: 4").replace(
        "a100: a100-sxm-80gb", "h200: h200-sxm-141gb").replace(
        "team-a: {quotas: {h100: 32}}", "team-a: {quotas: {h100: 32, h200: 32}}").replace(
        "team-b: {quotas: {a100: 32}}", "team-b: {quotas: {h200: 32}}").replace(
        "model: llama3-8b, num_gpus: 8, tp: 1,\n         global_batch_size: 64",
        "model: llama3-70b, num_gpus: 32, tp: 8,\n         global_batch_size: 256", 1)
    path = tmp_path / "fit.yaml"
    path.write_text(text)
    res = simulate(load_scenario(path, ["workload.synthetic.num_jobs=12"]))
    assert res.summary["jobs_by_status"]["completed"] == 12
    big = [j for j in res.jobs if j.model == "llama3-70b"]
    assert big and all(j.status == "completed" for j in big)
