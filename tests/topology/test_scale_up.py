"""Scale-up bandwidth by domain wiring, on the bundled catalog (mesh, torus, PCIe, bridge)."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.communication import make_context
from gputwin.topology.collectives import CollectiveOp, collective_time, group_for_ranks
from gputwin.topology.hardware import HardwareSpec, resolve_hardware
from gputwin.topology.scale_up import scale_up_bandwidth_bytes_per_s, torus_links

CAT = default_catalog()
GiB = 2**30


def hw(system: str) -> HardwareSpec:
    return resolve_hardware(CAT, system=system)


@pytest.mark.parametrize(("members", "links"), [(2, 1), (4, 3), (8, 7)])
def test_mesh_group_uses_one_link_per_peer(members: int, links: int) -> None:
    """MI300X: 7 Infinity Fabric links of 64 GB/s, one to each peer of the 8-GPU board."""
    bw = scale_up_bandwidth_bytes_per_s(hw("mi300x-platform"), members)
    assert bw == pytest.approx(links * 64e9)


def test_mesh_four_gpus_match_rccl_topology() -> None:
    """ROCm/rccl issue #1210: on 4 MI300X RCCL sees 3 xGMI links of 48 GB/s = 144 GB/s total."""
    group = group_for_ranks(hw("mi300x-platform"), 4, 1)
    assert group.scale_up is not None
    assert group.scale_up.effective_bytes_per_s == pytest.approx(144e9, rel=0.01)


def test_mesh_all_reduce_is_slower_on_fewer_members() -> None:
    """A TP-2 all-reduce on a full mesh runs over one link; on the whole board over seven."""
    two = collective_time("all_reduce", 1 * GiB, group_for_ranks(hw("gaudi3-server"), 2, 1))
    eight = collective_time("all_reduce", 1 * GiB, group_for_ranks(hw("gaudi3-server"), 8, 1))
    assert eight.busbw_bytes_per_s == pytest.approx(7 * two.busbw_bytes_per_s, rel=0.05)
    # per-peer bundle of Gaudi 3: 3 x 200 GbE = 75 GB/s
    assert two.busbw_bytes_per_s == pytest.approx(75e9 * 0.8, rel=0.05)


@pytest.mark.parametrize(("dims", "links"), [((4, 4, 4), 6), ((2, 2), 2), ((16, 16), 4), ((4,), 2)])
def test_torus_links(dims: tuple[int, ...], links: int) -> None:
    assert torus_links(dims) == links


def test_torus_group_uses_its_dimension_links() -> None:
    v5p = hw("tpu-v5p-slice")
    assert scale_up_bandwidth_bytes_per_s(v5p, 64) == pytest.approx(600e9)  # 4x4x4, 6 links
    assert scale_up_bandwidth_bytes_per_s(v5p, 4) == pytest.approx(200e9)  # 2x2, 2 links
    trn2 = group_for_ranks(hw("trn2-server"), 16, 1)
    assert trn2.torus_dims == (4, 4)  # 2D torus inside a trn2.48xlarge
    assert trn2.scale_up is not None
    assert trn2.scale_up.bandwidth_bytes_per_s == pytest.approx(4 * 160e9)
    v6e = group_for_ranks(hw("tpu-v6e-slice"), 256, 1)
    assert v6e.torus_dims == (16, 16)


def test_torus_ring_all_reduce_uses_dimension_links() -> None:
    """Bidirectional rings along the spanned dimensions: busbw = links x link rate x eff."""
    est = collective_time("all_reduce", 4 * GiB, group_for_ranks(hw("tpu-v6e-slice"), 256, 1))
    assert est.busbw_bytes_per_s == pytest.approx(4 * 112e9 * 0.8, rel=0.02)
    small = collective_time("all_reduce", 4 * GiB, group_for_ranks(hw("tpu-v6e-slice"), 4, 1))
    assert small.busbw_bytes_per_s == pytest.approx(2 * 112e9 * 0.8, rel=0.02)


def test_ultraserver_spans_64_chips_in_one_domain() -> None:
    group = group_for_ranks(hw("trn2-ultraserver"), 64, 1)
    assert group.num_domains == 1 and group.torus_dims == (4, 4, 4)
    assert group.scale_up is not None
    assert group.scale_up.bandwidth_bytes_per_s == pytest.approx(640e9)  # capped at the chip


@pytest.mark.parametrize(("system", "x16"), [("l4-server", 31.5e9), ("l40s-server", 31.5e9),
                                              ("h100-pcie-server", 63e9)])
def test_pcie_servers_keep_tensor_parallelism_on_pcie(system: str, x16: float) -> None:
    group = group_for_ranks(hw(system), 8, 1)
    assert group.num_domains == 1  # 8-way TP stays inside the server
    assert group.scale_up is not None
    assert group.scale_up.bandwidth_bytes_per_s == pytest.approx(x16)
    est = collective_time("all_reduce", 1 * GiB, group)
    assert est.scale_out_bytes == 0.0


@pytest.mark.parametrize(("system", "min_ratio"), [("l40s-server", 3.0), ("l4-server", 10.0)])
def test_tp8_costs_pcie_time_not_nic_time(system: str, min_ratio: float) -> None:
    """8-way TP on a PCIe server: PCIe Gen4 x16 (~19 GB/s busbw), not the server's NICs
    (the old catalog had scale_up_domain_size 1, which sent TP over 100 GbE)."""
    pcie = hw(system)
    nic_only = HardwareSpec(
        accelerator=pcie.accelerator,
        system=pcie.system.model_copy(update={"scale_up_domain_size": 1,
                                              "scale_up_fabric": None,
                                              "scale_up_topology": "none"}),
        scale_up_fabric=None, scale_out_fabric=pcie.scale_out_fabric, network=pcie.network)
    size = 64 * 2**20  # one TP all-reduce of activations
    t_pcie = make_context(pcie, 8, None).group_time(CollectiveOp.ALL_REDUCE, size, 8, 1)
    t_nic = make_context(nic_only, 8, None).group_time(CollectiveOp.ALL_REDUCE, size, 8, 1)
    bus = 2 * 7 / 8 * size / t_pcie
    assert bus == pytest.approx(31.5e9 * 0.6, rel=0.1)
    assert t_nic > min_ratio * t_pcie


def test_nvlink_bridge_serves_adjacent_pairs_only() -> None:
    nvl = hw("h100-nvl-server")
    pair = group_for_ranks(nvl, 2, 1)
    assert pair.scale_up is not None
    assert pair.scale_up.bandwidth_bytes_per_s == pytest.approx(300e9)  # bridge, per direction
    strided = group_for_ranks(nvl, 2, 2)  # ranks 0 and 2 sit on different pairs
    quad = group_for_ranks(nvl, 4, 1)
    for group in (strided, quad):
        assert group.scale_up is not None
        assert group.scale_up.bandwidth_bytes_per_s == pytest.approx(63e9)  # PCIe Gen5
