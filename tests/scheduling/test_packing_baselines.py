"""The FGD paper's other packing baselines (dot-product, GPU clustering, random fit) as
placement plugins: each makes the choice its definition implies on hand-built states and
never over-allocates (the ledger raises if asked to)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.scheduling.test_fractional import GIB, Harness, job

from gputwin.cluster.packing_scores import clustering_scores, dot_product_scores
from gputwin.cluster.sharing import FreeMilli, GpuRequest
from gputwin.scheduling.plugins.sharing import NodeInventory, inventory_layout


def two_nodes() -> NodeInventory:
    return NodeInventory(gpus=(4, 4), models=("G", "G"), cpu_milli=(32000.0, 32000.0),
                         memory_bytes=(256 * GIB, 256 * GIB))


def test_dot_product_prefers_the_node_it_aligns_with_least() -> None:
    table = FreeMilli([4, 4])
    table.free[0, :3] = 0  # node 0: one GPU free
    cpu = np.array([32000.0, 32000.0])
    scores = dot_product_scores(table, GpuRequest(1, 1000, 4000.0), cpu, cpu)
    assert scores[0] < scores[1]
    # a request that fits nowhere
    assert np.isinf(dot_product_scores(table, GpuRequest(8), cpu, cpu)).all()


def test_clustering_tiers_same_class_then_idle_then_others() -> None:
    table = FreeMilli([4, 4, 4])
    cpu = np.full(3, 1e9)
    has = np.array([False, True, False])
    classes = np.array([1, 1, 0])  # node 0 holds another class, node 1 ours, node 2 idle
    s = clustering_scores(table, GpuRequest(1, 500), cpu, has, classes)
    assert s[1] < s[2] < s[0]


@pytest.mark.parametrize("profile", ["dot-product", "gpu-clustering", "random-fit"])
def test_baselines_place_shares_and_whole_gpus_without_overallocation(profile: str) -> None:
    h = Harness(profile, inventory_layout(two_nodes(), nodes_per_leaf=2))
    started = h.submit(*(job(i, 1, 500, cpus=2.0) for i in range(6)))
    assert len(started) == 6
    started += h.submit(job(11, 2, cpus=4.0))
    assert len(started) == 7
    h.check_mirror()
    assert h.submit(job(20, 8)) == []  # wider than any node
    for j in started:
        h.finish(j)
    assert h.plugin.mirror.unallocated_gpus() == pytest.approx(8.0)


def test_gpu_clustering_gathers_one_share_class() -> None:
    h = Harness("gpu-clustering", inventory_layout(two_nodes(), nodes_per_leaf=2))
    h.submit(job(0, 1, 300))
    h.submit(job(1, 1, 700))  # another class: goes to the idle node
    h.submit(job(2, 1, 300))
    nodes = {jid: alloc for jid, alloc in h.ledger.milli_used().items()}
    assert len(nodes) >= 2
    p = h.plugin
    assert isinstance(p.pods, dict)  # type: ignore[attr-defined]
    on = {m: set(np.flatnonzero(c > 0).tolist()) for m, c in p.pods.items()}  # type: ignore[attr-defined]
    assert on[300] != on[700] and len(on[300]) == 1


def test_random_fit_is_seeded() -> None:
    layout = inventory_layout(NodeInventory.uniform(16, 8, "G"), nodes_per_leaf=4)

    def nodes(seed: int) -> list[int]:
        h = Harness("random-fit", layout, {"random": {"seed": seed}})
        h.submit(*(job(i, 1) for i in range(8)))
        return sorted(n for n, f in enumerate(h.ledger.free_array()) if f < 8)

    assert nodes(1) == nodes(1)
    assert nodes(1) != nodes(2) or nodes(1) != nodes(3)
