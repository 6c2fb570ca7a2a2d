"""group_for_ranks: TP/DP/PP strides onto nodes, NIC sharing, leaves."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gputwin.errors import InputError
from gputwin.topology.collectives import group_for_ranks, torus_shape
from gputwin.topology.hardware import HardwareSpec

HW = Callable[..., HardwareSpec]


def test_tp_group_stays_in_the_domain(make_hw: HW) -> None:
    g = group_for_ranks(make_hw(), 8, 1)
    assert (g.gpus_per_domain, g.num_domains, g.num_nodes) == (8, 1, 1)


def test_dp_group_with_tp8_has_one_rank_per_node_and_one_nic(make_hw: HW) -> None:
    g = group_for_ranks(make_hw(), 16, 8)  # TP=8: DP ranks 0, 8, 16, ...
    assert (g.gpus_per_domain, g.num_domains, g.num_nodes) == (1, 16, 16)
    assert g.scale_out is not None
    assert g.scale_out.bandwidth_bytes_per_s == pytest.approx(50e9)  # one 400G NIC per GPU


def test_dp_group_with_tp2_packs_four_ranks_per_node(make_hw: HW) -> None:
    g = group_for_ranks(make_hw(), 8, 2)
    assert (g.gpus_per_domain, g.num_domains, g.num_nodes) == (4, 2, 2)


def test_pp_pair_across_nodes(make_hw: HW) -> None:
    g = group_for_ranks(make_hw(), 2, 32)  # TP8 x DP4 per stage
    assert (g.gpus_per_domain, g.num_domains) == (1, 2)


def test_nic_share_depends_on_active_gpus(make_hw: HW) -> None:
    hw = make_hw("node-1nic")
    busy = group_for_ranks(hw, 4, 8)  # all 8 GPUs of each node talk at once (SPMD)
    alone = group_for_ranks(hw, 4, 8, active_gpus_per_node=1)
    assert busy.scale_out is not None and alone.scale_out is not None
    assert busy.scale_out.bandwidth_bytes_per_s == pytest.approx(12.5e9 / 8)
    assert alone.scale_out.bandwidth_bytes_per_s == pytest.approx(12.5e9)


def test_single_node_topology_has_no_network(make_hw: HW) -> None:
    hw = make_hw(kind="single_node")
    assert group_for_ranks(hw, 8, 1).scale_out is None
    with pytest.raises(InputError, match="single_node"):
        group_for_ranks(hw, 16, 1)


def test_bad_group_arguments(make_hw: HW) -> None:
    with pytest.raises(InputError):
        group_for_ranks(make_hw(), 0, 1)
    with pytest.raises(InputError):
        group_for_ranks(make_hw(), 4, 0)
    with pytest.raises(InputError):
        group_for_ranks(make_hw(), 4, 8, num_leaves_spanned=0)


@pytest.mark.parametrize(("n", "dims"), [(64, (4, 4, 4)), (8, (2, 2, 2)), (16, (4, 2, 2)),
                                         (2, (2,)), (1, ()), (7, (7,))])
def test_torus_shape(n: int, dims: tuple[int, ...]) -> None:
    shape = torus_shape(n)
    assert shape == dims
    prod = 1
    for k in shape:
        prod *= k
    assert prod == max(n, 1)
