"""Where the engines' one-shot all-reduce runs (perf/serving_comm.custom_allreduce_runs):
inside one scale-up domain with peer access; on a host-routed PCIe box only a pair with
peer-to-peer (vLLM turns it off on more than two PCIe-only GPUs and without P2P)."""

from __future__ import annotations

import pytest
from perf_serving_builders import make_perf

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving_comm import custom_allreduce_runs
from gputwin.topology.hardware import resolve_hardware


@pytest.mark.parametrize(("system", "tp", "runs"), [
    ("dgx-h100", 8, True),  # NVLink switch: every pair connected
    ("dgx-h100", 16, False),  # beyond the domain: NCCL across nodes
    ("h100-pcie-server", 2, True),  # a bridged pair
    ("h100-pcie-server", 4, False),  # more than two PCIe-only GPUs
    ("rtx-4090-workstation", 2, False),  # GeForce: no peer access
    ("rtx-pro-6000-server", 2, True),  # PCIe P2P between a pair
    ("rtx-pro-6000-server", 8, False),
])
def test_one_shot_kernel_needs_peer_access(system: str, tp: int, runs: bool) -> None:
    hw = resolve_hardware(default_catalog(), system=system)
    assert custom_allreduce_runs(hw, tp) is runs


def test_a_pcie_group_pays_nccl_time_for_its_small_all_reduces() -> None:
    cat = default_catalog()
    assert cat.system("h100-pcie-server").scale_up_topology == "pcie"
    pcie = make_perf("llama3.1-8b", "h100-pcie-80gb", tp=4)
    nccl = pcie.comm.allreduce_s(8)  # the collective model's time, not scaled
    from gputwin.topology.collectives import CollectiveOp, collective_time

    assert pcie.comm.ar is not None
    size = 8 * pcie.config.model.hidden_size * 2.0
    assert nccl == pytest.approx(collective_time(CollectiveOp.ALL_REDUCE, size,
                                                 pcie.comm.ar).time_s)
    nvlink = make_perf("llama3.1-8b", "h100-sxm-80gb", tp=4)
    assert nvlink.comm.ar is not None
    scaled = collective_time(CollectiveOp.ALL_REDUCE, size, nvlink.comm.ar).time_s
    assert nvlink.comm.allreduce_s(8) == pytest.approx(
        scaled * nvlink.calibration.tp_comm_mult)
