"""FGD on the real Alibaba openb trace (Weng et al., ATC'23): speed, and FGD vs best-fit.

Benchmarks (``pytest -m bench tests/cluster``); skipped when the trace is absent.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from gputwin.cluster.fragmentation import (
    FragmentationIndex,
    TargetWorkload,
    bestfit_scores,
    choose_gpus,
    cluster_fragmentation_milli,
)
from gputwin.cluster.sharing import FreeMilli, GpuRequest
from gputwin.scenario.paths import data_dir

OPENB = data_dir() / "traces" / "alibaba-gpu-v2023"
NODES = OPENB / "openb_node_list_all_node.csv"
PODS = OPENB / "openb_pod_list_default.csv"

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(not PODS.is_file(), reason=f"openb trace not present at {OPENB}"),
]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _cluster() -> tuple[list[int], np.ndarray]:
    rows = _read(NODES)
    return [int(r["gpu"]) for r in rows], np.array([float(r["cpu_milli"]) for r in rows])


def _requests() -> list[GpuRequest]:
    out = []
    for r in _read(PODS):
        num = int(r["num_gpu"])
        out.append(GpuRequest(num, int(r["gpu_milli"]) if num else 1000, float(r["cpu_milli"])))
    return out


def test_fgd_scores_the_whole_default_trace_in_seconds() -> None:
    gpus, cpu = _cluster()
    reqs = _requests()
    assert (len(gpus), sum(gpus), len(reqs)) == (1523, 6212, 8152)  # the paper's cluster
    table = FreeMilli(gpus)
    start = time.perf_counter()
    index = FragmentationIndex(table, TargetWorkload.from_requests(reqs), cpu)
    placed = 0
    for req in reqs:
        choice = index.fgd_choose(req)
        if choice is None:
            continue
        node, chosen = choice
        if chosen:
            table.allocate(node, chosen, req.gpu_milli)
        cpu[node] -= req.cpu_milli
        index.update_node(node, table.free[node], cpu[node])
        placed += 1
    elapsed = time.perf_counter() - start
    print(f"\nFGD: {placed}/{len(reqs)} pods placed on 1,523 nodes in {elapsed:.2f} s")
    assert elapsed < 10.0
    assert index.cluster_fragmentation_milli == pytest.approx(
        cluster_fragmentation_milli(table, index.workload, cpu))


def _inflate(policy: str, seed: int, reqs: list[GpuRequest], marks: tuple[float, ...]
             ) -> list[float]:
    """Tasks drawn from the trace arrive until their GPU demand reaches each mark (fraction of
    cluster capacity); returns the GPU demand that could not be placed at each mark."""
    gpus, cpu = _cluster()
    table = FreeMilli(gpus)
    capacity = sum(gpus) * 1000
    index = FragmentationIndex(table, TargetWorkload.from_requests(reqs), cpu)
    rng = np.random.default_rng(seed)
    arrived, out = 0, []
    while len(out) < len(marks):
        req = reqs[int(rng.integers(len(reqs)))]
        arrived += req.total_milli
        if policy == "fgd":
            choice = index.fgd_choose(req)
        else:
            scores = bestfit_scores(table, req, cpu)
            node = int(np.argmin(scores))
            choice = (node, choose_gpus(table.free[node], req)) if np.isfinite(scores[node]) \
                else None
        if choice is not None:
            node, chosen = choice
            if chosen:
                table.allocate(node, chosen, req.gpu_milli)
            cpu[node] -= req.cpu_milli
            index.update_node(node, table.free[node], cpu[node])
        if arrived >= marks[len(out)] * capacity:
            out.append((arrived - (capacity - table.total_free_milli())) / 1000)
    return out


def test_fgd_leaves_less_demand_unplaced_than_bestfit() -> None:
    # The paper's workload-inflation experiment (Sec. 6): FGD allocates more of the arriving
    # GPU demand than packing heuristics such as best-fit once the cluster nears saturation.
    reqs = _requests()
    marks = (0.95, 1.0)
    fgd = _inflate("fgd", 0, reqs, marks)
    best = _inflate("bestfit", 0, reqs, marks)
    print(f"\nunplaced GPUs at {marks}: FGD {fgd}, best-fit {best}")
    assert fgd[0] < best[0] and fgd[1] < best[1]
