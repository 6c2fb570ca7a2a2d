"""Physics and convention checks of the collective cost model."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from gputwin.errors import InputError
from gputwin.topology.collectives import (
    CollectiveOp,
    CommGroup,
    LinkLevel,
    applicable_algorithms,
    busbw_factor,
    collective_time,
    group_for_ranks,
)
from gputwin.topology.hardware import HardwareSpec

GiB = 2.0**30
HW = Callable[..., HardwareSpec]


@pytest.mark.parametrize(("op", "n", "factor"), [
    ("all_reduce", 8, 2 * 7 / 8), ("all_gather", 8, 7 / 8), ("reduce_scatter", 16, 15 / 16),
    ("all_to_all", 4, 3 / 4), ("send_recv", 2, 1.0), ("broadcast", 8, 1.0)])
def test_busbw_is_algbw_times_nccl_tests_factor(make_hw: HW, op: str, n: int,
                                                 factor: float) -> None:
    est = collective_time(op, GiB, group_for_ranks(make_hw(), n, 1))
    assert est.algbw_bytes_per_s == pytest.approx(GiB / est.time_s)
    assert est.busbw_bytes_per_s == pytest.approx(est.algbw_bytes_per_s * factor)
    assert busbw_factor(CollectiveOp(op), n) == pytest.approx(factor)


@pytest.mark.parametrize("op", [o.value for o in CollectiveOp])
def test_busbw_rises_with_size_and_saturates_below_line_rate(make_hw: HW, op: str) -> None:
    n = 2 if op == "send_recv" else 16
    group = group_for_ranks(make_hw(), n, 1)
    sizes = [2.0**k for k in range(3, 35)]
    ests = [collective_time(op, s, group) for s in sizes]
    times = [e.time_s for e in ests]
    assert all(b > a for a, b in itertools.pairwise(times))
    busbw = [e.busbw_bytes_per_s for e in ests]
    assert busbw[-1] > 50 * busbw[0]
    assert busbw[-1] == pytest.approx(busbw[-2], rel=0.02)  # saturated at 8-16 GiB


def test_ring_busbw_saturates_at_effective_link_bandwidth(make_hw: HW) -> None:
    est = collective_time("all_reduce", 16 * GiB, group_for_ranks(make_hw(), 8, 1), "ring")
    # 450 GB/s line rate x 0.8 efficiency; never above it.
    assert est.busbw_bytes_per_s == pytest.approx(360e9, rel=0.01)
    assert est.busbw_bytes_per_s < 450e9


def test_small_messages_are_latency_bound(make_hw: HW) -> None:
    group = group_for_ranks(make_hw(), 8, 1)
    tiny, small = collective_time("all_reduce", 8, group), collective_time("all_reduce", 1024,
                                                                           group)
    assert tiny.time_s == pytest.approx(small.time_s, rel=0.01)
    assert 2e-6 < tiny.time_s < 50e-6
    assert tiny.protocol == "LL"
    assert collective_time("all_reduce", 8 * GiB, group).protocol == "Simple"


def test_latency_grows_with_group_size_for_tiny_messages(make_hw: HW) -> None:
    hw = make_hw()
    t = [collective_time("all_reduce", 8, group_for_ranks(hw, n, 1), "ring").time_s
         for n in (2, 8, 64, 512)]
    assert all(b > a for a, b in itertools.pairwise(t))


def test_tree_latency_scales_logarithmically(make_hw: HW) -> None:
    hw = make_hw()
    ring = collective_time("all_reduce", 8, group_for_ranks(hw, 1024, 8), "ring").time_s
    tree = collective_time("all_reduce", 8, group_for_ranks(hw, 1024, 8), "tree").time_s
    assert tree < ring / 10


def test_nvls_beats_ring_in_one_domain_at_large_sizes(make_hw: HW) -> None:
    group = group_for_ranks(make_hw(), 8, 1)
    est = collective_time("all_reduce", 8 * GiB, group)
    assert est.algorithm == "nvls"
    assert est.time_s < collective_time("all_reduce", 8 * GiB, group, "ring").time_s


def test_hierarchical_beats_flat_ring_when_network_bound(make_hw: HW) -> None:
    group = group_for_ranks(make_hw("node-1nic"), 32, 1)  # 4 nodes, one 100G NIC each
    ring = collective_time("all_reduce", GiB, group, "ring")
    hier = collective_time("all_reduce", GiB, group, "hierarchical")
    assert hier.time_s < ring.time_s
    ag_ring = collective_time("all_gather", GiB, group, "ring")
    ag_hier = collective_time("all_gather", GiB, group, "hierarchical")
    assert ag_hier.time_s < ag_ring.time_s
    assert collective_time("all_reduce", GiB, group).time_s <= hier.time_s


def test_auto_is_the_fastest_applicable(make_hw: HW) -> None:
    group = group_for_ranks(make_hw(), 64, 1)
    for size in (1e3, 1e6, 1e9):
        auto = collective_time("all_reduce", size, group)
        for name in applicable_algorithms(CollectiveOp.ALL_REDUCE, group):
            assert auto.time_s <= collective_time("all_reduce", size, group, name).time_s


def test_oversubscription_slows_cross_leaf_groups_only(make_hw: HW) -> None:
    flat, over = make_hw(nodes_per_leaf=4), make_hw(nodes_per_leaf=4, oversubscription=4.0)
    # DP group of 4 ranks one node apart (stride 8) stays inside one 4-node leaf.
    intra = [collective_time("all_reduce", GiB, group_for_ranks(hw, 4, 8)).time_s
             for hw in (flat, over)]
    assert intra[0] == pytest.approx(intra[1])
    # 16 ranks one node apart span 4 leaves.
    cross = [collective_time("all_reduce", GiB, group_for_ranks(hw, 16, 8)).time_s
             for hw in (flat, over)]
    assert cross[1] > 2.0 * cross[0]
    assert group_for_ranks(over, 16, 8).num_leaves == 4


def test_explicit_leaf_count_overrides_placement(make_hw: HW) -> None:
    over = make_hw(oversubscription=2.0)
    packed = group_for_ranks(over, 4, 8)
    split = group_for_ranks(over, 4, 8, num_leaves_spanned=2)
    assert split.scale_out is not None and packed.scale_out is not None
    assert split.scale_out.bandwidth_bytes_per_s == pytest.approx(
        packed.scale_out.bandwidth_bytes_per_s / 2.0)


def test_torus_domain_uses_all_links_and_dimension_latency(make_hw: HW) -> None:
    group = group_for_ranks(make_hw("pod"), 64, 1)
    assert group.torus_dims == (4, 4, 4)
    est = collective_time("all_reduce", 16 * GiB, group)
    assert est.busbw_bytes_per_s == pytest.approx(600e9 * 0.8, rel=0.01)
    a2a = collective_time("all_to_all", 16 * GiB, group)
    assert a2a.busbw_bytes_per_s < est.busbw_bytes_per_s


def test_all_to_all_is_bounded_by_per_gpu_nic_share(make_hw: HW) -> None:
    est = collective_time("all_to_all", 16 * GiB, group_for_ranks(make_hw(), 64, 1))
    nic_eff = 50e9 * 0.9
    # Per GPU, 56/64 of the buffer crosses its own NIC: algbw = nic_eff * 64/56.
    assert est.algbw_bytes_per_s == pytest.approx(nic_eff * 64 / 56, rel=0.02)


def test_more_bandwidth_is_never_slower() -> None:
    def group(bw: float) -> CommGroup:
        return CommGroup(32, 8, LinkLevel(bw, 1e-6, 0.8), LinkLevel(bw / 9, 3e-6, 0.9),
                         num_nodes=4)

    for op in CollectiveOp:
        for size in (1e2, 1e6, 1e10):
            assert (collective_time(op, size, group(900e9)).time_s
                    <= collective_time(op, size, group(450e9)).time_s)


def test_one_gpu_or_zero_bytes_costs_nothing(make_hw: HW) -> None:
    assert collective_time("all_reduce", GiB, group_for_ranks(make_hw(), 1, 1)).time_s == 0.0
    assert collective_time("all_gather", 0.0, group_for_ranks(make_hw(), 8, 1)).time_s == 0.0


@pytest.mark.parametrize(("op", "algorithm", "message"), [
    ("all_reduce", "bogus", "unknown algorithm"),
    ("all_gather", "nvls", "does not apply"),
    ("all_to_all", "ring", "does not apply"),
    ("scatter", "auto", "unknown collective op"),
])
def test_bad_op_or_algorithm_raises(make_hw: HW, op: str, algorithm: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        collective_time(op, GiB, group_for_ranks(make_hw(), 16, 1), algorithm)


def test_negative_size_raises(make_hw: HW) -> None:
    with pytest.raises(InputError, match="size"):
        collective_time("all_reduce", -1.0, group_for_ranks(make_hw(), 8, 1))


def test_nvls_needs_switch_reduction(make_hw: HW) -> None:
    with pytest.raises(InputError, match="does not apply"):
        collective_time("all_reduce", GiB, group_for_ranks(make_hw("pod"), 64, 1), "nvls")


def test_to_dict_has_contract_keys(make_hw: HW) -> None:
    d = collective_time("all_reduce", GiB, group_for_ranks(make_hw(), 16, 1)).to_dict()
    for key in ("time_s", "algbw_bytes_per_s", "busbw_bytes_per_s", "op", "size_bytes",
                "num_gpus", "algorithm", "num_nodes", "breakdown"):
        assert key in d
    assert d["num_nodes"] == 2
    assert set(d["breakdown"]) >= {"latency_s", "bandwidth_s", "scale_up", "scale_out"}
