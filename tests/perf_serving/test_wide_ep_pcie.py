"""Wide EP without NVLink: the all-gather + reduce-scatter path of PCIe servers."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.perf.wide_ep import COMBINE_BYTES, DISPATCH_BYTES_FP4, wide_ep_comm
from gputwin.topology.collectives import CollectiveOp, collective_time
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()
PCIE = resolve_hardware(CAT, system="rtx-pro-6000-server")


def test_pcie_servers_gather_and_nvlink_servers_send_all_to_all() -> None:
    assert wide_ep_comm(PCIE, 8, 4096, 8, "nvfp4").gathered
    assert not wide_ep_comm(resolve_hardware(CAT, system="dgx-h100"), 8, 4096, 8,
                            "fp8").gathered


def test_gather_path_is_an_all_gather_and_a_reduce_scatter_of_every_rank_s_tokens() -> None:
    comm = wide_ep_comm(PCIE, 8, 4096, 8, "nvfp4")
    elems = 8 * 100 * 4096
    expected = (collective_time(CollectiveOp.ALL_GATHER, elems * DISPATCH_BYTES_FP4,
                                comm.group).time_s
                + collective_time(CollectiveOp.REDUCE_SCATTER, elems * COMBINE_BYTES,
                                  comm.group).time_s)
    assert comm.layer_time_s(100, 1.0, low_latency=True) == pytest.approx(expected)


def test_gather_path_ignores_top_k_imbalance_and_kernel_kind() -> None:
    # Every rank receives every token once, whatever its experts or the routing skew.
    t = wide_ep_comm(PCIE, 8, 4096, 8, "nvfp4").layer_time_s(64, 1.0, low_latency=True)
    assert wide_ep_comm(PCIE, 8, 4096, 2, "nvfp4").layer_time_s(
        64, 1.6, low_latency=False) == pytest.approx(t)


def test_gather_path_is_never_hidden() -> None:
    comm = wide_ep_comm(PCIE, 8, 4096, 8, "nvfp4", overlap_frac=1.0)
    assert comm.exposed_s(2e-3, 5e-3) == pytest.approx(2e-3)
    nvlink = wide_ep_comm(resolve_hardware(CAT, system="dgx-h100"), 8, 4096, 8, "fp8")
    assert nvlink.exposed_s(2e-3, 5e-3) == 0.0


def test_two_ranks_gather_less_than_they_would_send_all_to_all() -> None:
    # top-8 routing over 2 ranks sends each token's 8 copies, half of them across; the
    # gather sends each token once.
    gathered = wide_ep_comm(PCIE, 2, 4096, 8, "nvfp4")
    a2a_s = sum(collective_time(CollectiveOp.ALL_TO_ALL, 4096 * 4096 * 8 * b,
                                gathered.group).time_s for b in (DISPATCH_BYTES_FP4,
                                                                 COMBINE_BYTES))
    assert gathered.layer_time_s(4096, 1.0, low_latency=True) < a2a_s / 3
