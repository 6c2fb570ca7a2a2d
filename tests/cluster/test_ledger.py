"""Layout arithmetic and the allocation ledger (never over-allocates)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.cluster import ClusterLayout, Ledger, LedgerError, make_placement
from gputwin.errors import InputError


def make_layout(num_nodes: int = 8, gpus: int = 8, per_leaf: int = 4,
                domain: int = 0) -> ClusterLayout:
    return ClusterLayout(num_nodes, gpus, per_leaf, domain)


def test_layout_counts() -> None:
    layout = make_layout(num_nodes=10, per_leaf=4)
    assert layout.total_gpus == 80
    assert layout.num_leaves == 3  # 4 + 4 + 2 nodes
    assert list(layout.leaf_nodes(2)) == [8, 9]
    assert layout.num_leaves_spanned([0, 3]) == 1
    assert layout.num_leaves_spanned([3, 4, 9]) == 3


def test_scale_up_domain_spanning_nodes() -> None:
    # GB200 NVL72: 4-GPU trays, 72-GPU NVLink domain → 18 trays per domain.
    layout = ClusterLayout(num_nodes=36, gpus_per_node=4, nodes_per_leaf=18,
                           scale_up_domain_size=72)
    assert layout.nodes_per_domain == 18
    assert layout.num_domains_spanned([0, 17]) == 1
    assert layout.num_domains_spanned([17, 18]) == 2
    assert make_layout().num_domains_spanned([0, 1]) == 2  # DGX: one node per domain


@pytest.mark.parametrize("field", ["num_nodes", "gpus_per_node", "nodes_per_leaf"])
def test_layout_rejects_non_positive(field: str) -> None:
    args = {"num_nodes": 2, "gpus_per_node": 8, "nodes_per_leaf": 2, field: 0}
    with pytest.raises(InputError, match=field):
        ClusterLayout(**args)


def test_allocate_and_release() -> None:
    layout = make_layout()
    ledger = Ledger(layout)
    p = make_placement(layout, {0: 8, 5: 4})
    assert (p.num_gpus, p.num_nodes, p.num_leaves) == (12, 2, 2)
    ledger.allocate("a", p)
    assert ledger.free_total == 64 - 12
    assert ledger.free_on(0) == 0 and ledger.free_on(5) == 4
    assert ledger.placement_of("a") == p
    assert ledger.release("a") == p
    assert ledger.free_total == 64 and ledger.allocated_total == 0


def test_over_allocation_is_refused_and_leaves_ledger_unchanged() -> None:
    layout = make_layout()
    ledger = Ledger(layout)
    ledger.allocate("a", make_placement(layout, {0: 6}))
    before = ledger.free_per_node()
    with pytest.raises(LedgerError, match="wants 4 GPUs on node 0, 2 free"):
        ledger.allocate("b", make_placement(layout, {1: 8, 0: 4}))
    assert ledger.free_per_node() == before
    with pytest.raises(LedgerError, match="already holds"):
        ledger.allocate("a", make_placement(layout, {2: 1}))
    with pytest.raises(LedgerError, match="holds no GPUs"):
        ledger.release("zzz")
    with pytest.raises(LedgerError, match="no node"):
        ledger.allocate("c", make_placement(layout, {99: 1}))


ops = st.lists(
    st.tuples(st.booleans(), st.dictionaries(st.integers(0, 5), st.integers(1, 8), max_size=3)),
    max_size=60,
)


@settings(max_examples=150)
@given(ops)
def test_property_never_over_allocates(sequence: list[tuple[bool, dict[int, int]]]) -> None:
    """Random allocate/release: free counts stay in [0, gpus_per_node] and add up."""
    layout = make_layout(num_nodes=6)
    ledger = Ledger(layout)
    held: list[str] = []
    for index, (do_alloc, request) in enumerate(sequence):
        if do_alloc or not held:
            if not request:
                continue
            try:
                ledger.allocate(f"j{index}", make_placement(layout, request))
                held.append(f"j{index}")
            except LedgerError:
                pass
        else:
            ledger.release(held.pop(0))
        free = ledger.free_per_node()
        assert all(0 <= f <= layout.gpus_per_node for f in free)
        assert sum(free) == ledger.free_total
        used = sum(ledger.placement_of(j).num_gpus for j in held)  # type: ignore[union-attr]
        assert used == ledger.allocated_total


def test_fractional_shares_take_one_gpu_from_the_whole_pool() -> None:
    from gputwin.cluster import GpuShare

    layout = make_layout(num_nodes=2)
    ledger = Ledger(layout)
    a = make_placement(layout, {}, (GpuShare(0, 3, 600),))
    b = make_placement(layout, {}, (GpuShare(0, 3, 400),))
    ledger.allocate("a", a)
    ledger.allocate("b", b)  # 600 + 400 = a full GPU, still one GPU out of the pool
    assert ledger.free_on(0) == 7 and ledger.milli_used() == {(0, 3): 1000}
    with pytest.raises(LedgerError, match="would hold 1100 milli"):
        ledger.allocate("c", make_placement(layout, {}, (GpuShare(0, 3, 100),)))
    with pytest.raises(LedgerError, match="no free GPU on node 0"):  # 8 whole + 1 shared
        ledger.allocate("d", make_placement(layout, {0: 7}, (GpuShare(0, 5, 100),)))
    ledger.release("a")
    assert ledger.free_on(0) == 7  # b still shares GPU 3
    ledger.release("b")
    assert ledger.free_on(0) == 8 and ledger.milli_used() == {}


def test_mig_slices_must_not_overlap_or_mix_with_shares() -> None:
    from gputwin.cluster import GpuShare

    layout = make_layout(num_nodes=1)
    ledger = Ledger(layout)
    ledger.allocate("m1", make_placement(layout, {}, (GpuShare(0, 0, 430, 0, 4),)))
    ledger.allocate("m2", make_placement(layout, {}, (GpuShare(0, 0, 290, 4, 3),)))
    assert ledger.free_on(0) == 7
    with pytest.raises(LedgerError, match="overlaps"):
        ledger.allocate("m3", make_placement(layout, {}, (GpuShare(0, 0, 140, 3, 1),)))
    with pytest.raises(LedgerError, match="MIG mode"):
        ledger.allocate("f", make_placement(layout, {}, (GpuShare(0, 0, 100),)))
    ledger.release("m1")
    ledger.release("m2")
    assert ledger.free_total == 8 and ledger.mig_slices() == {}


def test_snapshot_is_read_only_and_hides_unhealthy_nodes() -> None:
    from gputwin.cluster import take_snapshot

    layout = make_layout(num_nodes=4)
    ledger = Ledger(layout)
    ledger.allocate("a", make_placement(layout, {0: 3}))
    ledger.set_health(1, "draining")
    ledger.set_health(2, "down")
    snap = take_snapshot(ledger)
    assert list(snap.free) == [5, 0, 0, 8] and snap.free_total == 13
    assert list(snap.up) == [True, False, False, True]
    with pytest.raises(ValueError):
        snap.free[0] = 1
    ledger.release("a")  # the snapshot does not move with the ledger
    assert snap.free[0] == 5 and snap.version < ledger.version
    assert ledger.health_of(2) == "down"


def test_topology_levels() -> None:
    layout = ClusterLayout(num_nodes=8, gpus_per_node=4, nodes_per_leaf=2,
                           scale_up_domain_size=8, leaves_per_pod=2)
    assert layout.level_ids("domain") == [0, 0, 1, 1, 2, 2, 3, 3]
    assert layout.level_ids("leaf") == [0, 0, 1, 1, 2, 2, 3, 3]
    assert layout.level_ids("pod") == [0, 0, 0, 0, 1, 1, 1, 1]
    assert layout.num_pods == 2 and layout.num_pods_spanned([0, 7]) == 2
    with pytest.raises(InputError, match="unknown topology level"):
        layout.level_ids("row")


def test_nodes_of_different_shapes_hold_their_own_gpus() -> None:
    layout = ClusterLayout(num_nodes=2, gpus_per_node=8, nodes_per_leaf=2, node_gpus=(8, 4))
    assert layout.total_gpus == 12 and layout.gpus_on(1) == 4
    ledger = Ledger(layout)
    assert ledger.free_per_node() == (8, 4)
    with pytest.raises(LedgerError):
        ledger.allocate("big", make_placement(layout, {1: 8}))
    ledger.allocate("fits", make_placement(layout, {1: 4}))
    ledger.release("fits")
    assert ledger.free_per_node() == (8, 4)
    with pytest.raises(InputError):
        ClusterLayout(num_nodes=2, gpus_per_node=8, nodes_per_leaf=2, node_gpus=(4, 4))
