"""Fragmentation (FGD, Weng et al. ATC'23): hand-worked examples from the paper's definitions,
the incremental index against brute force, FGD optimality, and the baselines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.cluster.fragmentation import (
    FragmentationIndex,
    TargetWorkload,
    bestfit_scores,
    choose_gpus,
    cluster_fragmentation_milli,
    fragmentation_rate,
    gpu_packing_scores,
    node_fragmentation_milli,
)
from gputwin.cluster.sharing import FreeMilli, GpuRequest
from gputwin.errors import InputError

ONE_GPU = TargetWorkload.from_gpus({1: 1.0})


def frag(row: list[int], wl: TargetWorkload, cpu: float | None = None) -> float:
    return float(node_fragmentation_milli(row, wl, None if cpu is None else [cpu])[0])


# -- the paper's definitions, worked by hand ----------------------------------------------------


def test_free_1_05_025_with_only_one_gpu_tasks_is_075() -> None:
    # a 1-GPU task fits on GPU 0; GPUs with 0.5 and 0.25 free cannot serve it
    assert frag([1000, 500, 250], ONE_GPU) == 750


def test_expected_over_the_workload_mix() -> None:
    wl = TargetWorkload.from_gpus({0.25: 1, 1: 1})  # p = 0.5 each
    # 0.25-GPU tasks: every GPU has >= 0.25 free → 0; 1-GPU tasks: 0.75 → expected 0.375
    assert frag([1000, 500, 250], wl) == pytest.approx(375)
    wl3 = TargetWorkload.from_gpus({0.5: 1, 1: 1, 2: 2})  # p = .25, .25, .5
    # 0.5: GPU with 0.25 is a fragment (250); 1: 750; 2 GPUs: only one full GPU → all 1750
    assert frag([1000, 500, 250], wl3) == pytest.approx(0.25 * 250 + 0.25 * 750 + 0.5 * 1750)


def test_task_that_cannot_run_makes_all_free_capacity_fragments() -> None:
    assert frag([500, 500], ONE_GPU) == 1000
    assert frag([1000, 1000, 500], TargetWorkload.from_gpus({4: 1})) == 2500
    assert frag([1000, 1000, 500], TargetWorkload.from_gpus({2: 1})) == 500


def test_cpu_only_tasks_and_cpu_shortage() -> None:
    assert frag([1000, 300], TargetWorkload.from_gpus({0: 1})) == 1300
    wl = TargetWorkload({GpuRequest(1, 1000, cpu_milli=4000): 1.0})
    assert frag([1000, 300], wl, cpu=8000) == 300
    assert frag([1000, 300], wl, cpu=2000) == 1300  # CPU short: the task cannot run at all


def test_fully_free_and_fully_used_nodes_have_no_fragmentation() -> None:
    wl = TargetWorkload.from_gpus({0.25: 1, 0.5: 1, 1: 1, 2: 1, 8: 1})
    assert frag([1000] * 8, wl) == 0
    assert frag([0] * 8, wl) == 0
    assert frag([], wl) == 0  # a node without GPUs


def test_cluster_sum_and_rate() -> None:
    free = [[1000, 500, 250, 0], [1000, 1000, 0, 0]]
    assert cluster_fragmentation_milli(free, ONE_GPU) == 750
    assert fragmentation_rate(free, ONE_GPU) == pytest.approx(750 / 3750)
    assert fragmentation_rate([[0, 0]], ONE_GPU) == 0.0


def test_target_workload_construction() -> None:
    wl = TargetWorkload.from_requests([GpuRequest(1, 500, 1000), GpuRequest(1, 500, 2000),
                                       GpuRequest(8)], with_cpu=False)
    assert dict(zip(wl.requests, wl.prob.tolist(), strict=True)) == {
        GpuRequest(1, 500): pytest.approx(2 / 3), GpuRequest(8): pytest.approx(1 / 3)}
    assert len(TargetWorkload.from_requests([GpuRequest(1, 500, 1000),
                                             GpuRequest(1, 500, 2000)])) == 2
    assert TargetWorkload.from_gpus({0.25: 1}).requests == (GpuRequest(1, 250),)
    for bad in ({}, {1: -1.0}, {1: 0.0}):
        with pytest.raises(InputError):
            TargetWorkload.from_gpus(bad)
    with pytest.raises(InputError, match="whole"):
        TargetWorkload.from_gpus({1.5: 1})


# -- the incremental index against brute force ----------------------------------------------------

_requests = st.sampled_from([GpuRequest(1, 250), GpuRequest(1, 500, 2000), GpuRequest(1, 700),
                             GpuRequest(1), GpuRequest(2), GpuRequest(4, 1000, 1000),
                             GpuRequest(0, 1000, 3000)])
_workloads = st.sampled_from([
    ONE_GPU,
    TargetWorkload.from_gpus({0.25: 3, 0.5: 2, 1: 4, 2: 1, 8: 1}),
    TargetWorkload({GpuRequest(1, 300, 2000): 2, GpuRequest(2, 1000, 8000): 1,
                    GpuRequest(0, 1000, 4000): 1}),
])
_milli = st.sampled_from([0, 100, 250, 300, 500, 700, 750, 1000])


@st.composite
def _clusters(draw: st.DrawFn) -> tuple[FreeMilli, np.ndarray]:
    counts = draw(st.lists(st.sampled_from([0, 1, 2, 4]), min_size=1, max_size=6))
    table = FreeMilli(counts)
    for n, c in enumerate(counts):
        for g in range(c):
            table.free[n, g] = draw(_milli)
    cpu = np.array(draw(st.lists(st.sampled_from([0.0, 2000.0, 8000.0]), min_size=len(counts),
                                 max_size=len(counts))))
    return table, cpu


def _brute_delta(table: FreeMilli, cpu: np.ndarray, wl: TargetWorkload, req: GpuRequest
                 ) -> list[float]:
    """min over GPU choices of F_n(after) − F_n(before), per node (inf if it cannot fit)."""
    out = []
    for n in range(table.num_nodes):
        row = table.free[n].astype(np.int64)
        before = frag(list(row), wl, cpu[n])
        best = float("inf")
        if cpu[n] >= req.cpu_milli:
            if req.num_gpus == 0:
                best = frag(list(row), wl, cpu[n] - req.cpu_milli) - before
            elif req.is_fractional:
                for g in np.flatnonzero(row >= req.gpu_milli):
                    after = row.copy()
                    after[g] -= req.gpu_milli
                    best = min(best, frag(list(after), wl, cpu[n] - req.cpu_milli) - before)
            elif (row >= 1000).sum() >= req.num_gpus:
                after = row.copy()
                after[np.flatnonzero(row >= 1000)[: req.num_gpus]] = 0
                best = frag(list(after), wl, cpu[n] - req.cpu_milli) - before
        out.append(best)
    return out


@settings(max_examples=150, deadline=None)
@given(cluster=_clusters(), wl=_workloads, req=_requests)
def test_fgd_delta_matches_brute_force(cluster: tuple[FreeMilli, np.ndarray],
                                       wl: TargetWorkload, req: GpuRequest) -> None:
    table, cpu = cluster
    index = FragmentationIndex(table, wl, cpu)
    delta, gpu = index.fgd_delta(req)
    assert delta.tolist() == pytest.approx(_brute_delta(table, cpu, wl, req))
    for n in range(table.num_nodes):
        if req.is_fractional and np.isfinite(delta[n]):
            assert table.free[n, gpu[n]] >= req.gpu_milli


@settings(max_examples=100, deadline=None)
@given(cluster=_clusters(), wl=_workloads,
       reqs=st.lists(_requests, min_size=1, max_size=12))
def test_fgd_placements_keep_the_index_exact_and_are_optimal(
    cluster: tuple[FreeMilli, np.ndarray], wl: TargetWorkload, reqs: list[GpuRequest]
) -> None:
    table, cpu = cluster
    index = FragmentationIndex(table, wl, cpu)
    for req in reqs:
        before = cluster_fragmentation_milli(table, wl, cpu)
        brute = _brute_delta(table, cpu, wl, req)
        choice = index.fgd_choose(req)
        if choice is None:
            assert all(d == float("inf") for d in brute)
            continue
        node, gpus = choice
        if gpus:
            table.allocate(node, gpus, req.gpu_milli)
        cpu[node] -= req.cpu_milli
        index.update_node(node, table.free[node], cpu[node])
        after = cluster_fragmentation_milli(table, wl, cpu)
        assert after - before == pytest.approx(min(brute))  # steepest descent
        assert index.frag.tolist() == pytest.approx(
            node_fragmentation_milli(table, wl, cpu).tolist())
        assert 0 <= index.cluster_fragmentation_milli <= index.unallocated_milli + 1e-9


@settings(max_examples=100, deadline=None)
@given(cluster=_clusters(), wl=_workloads)
def test_fragmentation_is_bounded_by_free_capacity(cluster: tuple[FreeMilli, np.ndarray],
                                                   wl: TargetWorkload) -> None:
    table, cpu = cluster
    per_node = node_fragmentation_milli(table, wl, cpu)
    assert (per_node >= 0).all() and (per_node <= table.free.sum(axis=1) + 1e-9).all()
    assert 0.0 <= fragmentation_rate(table, wl, cpu) <= 1.0


def test_freeing_more_cpu_never_raises_fragmentation() -> None:
    wl = TargetWorkload({GpuRequest(1, 500, 4000): 1, GpuRequest(2, 1000, 16000): 1})
    rows = [[1000, 1000, 300, 0]] * 4
    values = node_fragmentation_milli(rows, wl, [0, 4000, 16000, 64000])
    assert list(values) == sorted(values, reverse=True)


def test_fgd_prefers_the_gpu_that_keeps_whole_gpus_whole() -> None:
    index = FragmentationIndex([[1000, 1000, 600]], ONE_GPU)
    assert index.fgd_choose(GpuRequest(1, 500)) == (0, (2,))  # not a full GPU
    index2 = FragmentationIndex([[1000, 1000], [1000, 400]], ONE_GPU)
    assert index2.fgd_choose(GpuRequest(1, 400)) == (1, (1,))  # fills the 0.4 hole exactly
    allowed = np.array([True, False])
    assert index2.fgd_choose(GpuRequest(1, 400), allowed) == (0, (0,))
    assert index2.fgd_choose(GpuRequest(4)) is None


# -- baselines ----------------------------------------------------------------------------------


def test_bestfit_prefers_the_fullest_node() -> None:
    free = [[1000, 1000], [1000, 200], [300, 0]]
    scores = bestfit_scores(free, GpuRequest(1, 300))
    assert int(np.argmin(scores)) == 2
    assert np.isinf(bestfit_scores(free, GpuRequest(2))[1:]).all()
    with_cpu = bestfit_scores(free, GpuRequest(1, 300, 1000), free_cpu_milli=[8000, 8000, 500])
    assert np.isinf(with_cpu[2]) and int(np.argmin(with_cpu)) == 1


def test_gpu_packing_tiers() -> None:
    table = FreeMilli([2, 2, 2])
    table.allocate(1, [0], 1000)      # node 1: one GPU fully used
    table.allocate(2, [0], 500)       # node 2: a half-used GPU
    scores = gpu_packing_scores(table, GpuRequest(1, 400))
    assert int(np.argmin(scores)) == 2 and scores[2] < scores[1] < scores[0]
    whole = gpu_packing_scores(table, GpuRequest(1))
    assert whole[1] < whole[0] and whole[2] < whole[0]
    assert np.isinf(gpu_packing_scores(table, GpuRequest(2))[1:]).all()


def test_choose_gpus() -> None:
    assert choose_gpus([1000, 600, 400], GpuRequest(1, 300)) == (2,)
    assert choose_gpus([1000, 600, 1000], GpuRequest(2)) == (0, 2)
    assert choose_gpus([1000], GpuRequest(0)) == ()
    assert choose_gpus([100], GpuRequest(1, 300)) == ()
