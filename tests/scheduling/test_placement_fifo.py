"""Gang placement (first_fit, leaf_pack) and the FIFO profile."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sched_builders import LAYOUT, cycle, job, make_fw, started

from gputwin.cluster import Ledger
from gputwin.perf.training import TrainingConfig
from gputwin.scheduling import first_fit, leaf_pack
from gputwin.workload import JobSpec


@pytest.mark.parametrize("placer", [first_fit, leaf_pack])
def test_small_job_stays_on_one_node(placer) -> None:  # type: ignore[no-untyped-def]
    free = [3, 2, 8, 8, 8, 8, 8, 8]
    p = placer(LAYOUT, free, 4)
    assert p is not None and p.num_nodes == 1 and free[p.nodes[0]] >= 4
    assert placer(LAYOUT, [3] * 8, 4) is None  # 24 GPUs free, none on one node


def test_first_fit_fills_whole_nodes_in_id_order() -> None:
    free = [8, 4, 8, 8, 8, 8, 8, 8]
    p = first_fit(LAYOUT, free, 20)  # 2 whole nodes + 4
    assert p is not None
    assert p.nodes == (0, 1, 2) and p.gpus == (8, 4, 8)
    assert p.num_leaves == 1


def test_multi_node_job_needs_whole_free_nodes() -> None:
    assert first_fit(LAYOUT, [7] * 8, 16) is None  # 56 GPUs free, no whole node


def test_leaf_pack_avoids_spanning_leaves_when_first_fit_would() -> None:
    # Leaf 0 has 2 free nodes, leaf 1 has 4: a 4-node job fits inside leaf 1.
    free = [8, 8, 0, 0, 8, 8, 8, 8]
    ff = first_fit(LAYOUT, free, 32)
    lp = leaf_pack(LAYOUT, free, 32)
    assert ff is not None and lp is not None
    assert ff.num_leaves == 2
    assert lp.num_leaves == 1 and lp.nodes == (4, 5, 6, 7)


def test_leaf_pack_best_fit_for_small_jobs() -> None:
    p = leaf_pack(LAYOUT, [8, 5, 2, 8, 8, 8, 8, 8], 2)
    assert p is not None and p.nodes == (2,)


@given(st.lists(st.integers(0, 8), min_size=8, max_size=8), st.integers(1, 64))
def test_property_placements_respect_free_counts(free: list[int], n: int) -> None:
    for placer in (first_fit, leaf_pack):
        p = placer(LAYOUT, free, n)
        if p is None:
            continue
        assert p.num_gpus == n
        assert all(g <= free[node] for node, g in zip(p.nodes, p.gpus, strict=True))
        assert p.num_leaves == LAYOUT.num_leaves_spanned(p.nodes)
        # the ledger accepts every placement the placer proposes
        ledger = Ledger(LAYOUT)
        for node, f in enumerate(free):
            if f < 8:
                from gputwin.cluster import make_placement
                ledger.allocate(f"busy{node}", make_placement(LAYOUT, {node: 8 - f}))
        ledger.allocate("x", p)


def test_fifo_is_strict_and_head_of_line_blocks() -> None:
    fw = make_fw("fifo")
    ledger = Ledger(LAYOUT)
    for j in (job("a", 48), job("b", 32), job("c", 8)):
        assert fw.submit(j, 0.0) is None
    assert started(cycle(fw, ledger, 0.0)) == ["a"]  # b (32) does not fit in 16; c waits
    assert [j.job_id for j in fw.queued()] == ["b", "c"]
    assert fw.num_queued() == 2
    assert "head of queue" in fw.waiting_reason(fw.queued()[0])
    assert "behind b" in fw.waiting_reason(fw.queued()[1])


def test_fifo_places_several_jobs_in_one_pass_without_overlap() -> None:
    fw = make_fw("fifo")
    for i in range(9):
        fw.submit(job(f"j{i}", 8), 0.0)
    result = cycle(fw, Ledger(LAYOUT), 0.0)
    assert len(result.starts) == 8
    assert sorted(d.placement.nodes[0] for d in result.starts) == list(range(8))


def test_fifo_rejects_jobs_larger_than_the_cluster() -> None:
    fw = make_fw("fifo")
    rejection = fw.submit(job("huge", 65), 0.0)
    assert rejection is not None and "needs 65 GPUs, the cluster has 64" in rejection.reason
    assert fw.num_queued() == 0


def test_jobspec_validation() -> None:
    with pytest.raises(ValueError):
        job("bad", 0)
    with pytest.raises(ValueError):  # neither modelled nor fixed
        JobSpec("x", "k", "t", "m", 1, 0.0)
    with pytest.raises(ValueError):  # modelled without tokens
        JobSpec("x", "k", "t", "m", 1, 0.0, training=TrainingConfig(global_batch_size=8))


@given(st.lists(st.integers(0, 8), min_size=8, max_size=8), st.integers(2, 8))
def test_property_leaf_pack_minimises_leaves_for_whole_node_jobs(
    free: list[int], num_nodes: int
) -> None:
    """For whole-node gangs, taking the emptiest leaves first spans the fewest leaves."""
    ff = first_fit(LAYOUT, free, 8 * num_nodes)
    lp = leaf_pack(LAYOUT, free, 8 * num_nodes)
    assert (ff is None) == (lp is None)
    if ff is not None and lp is not None:
        assert lp.num_leaves <= ff.num_leaves
