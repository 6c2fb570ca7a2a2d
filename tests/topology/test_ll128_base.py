"""LL128's per-call cost: NCCL's 14 us where the scale-up fabric is NVLink."""

from __future__ import annotations

import pytest

from gputwin.topology.collectives import CommGroup, LinkLevel, collective_time

MiB = 2.0**20


def _group(ll128_base_s: float | None) -> CommGroup:
    return CommGroup(4, 4, LinkLevel(450e9, 0.7e-6, 0.82, ll128_base_s=ll128_base_s), None)


def test_mid_size_all_reduce_pays_the_fabric_s_ll128_call_cost() -> None:
    est = collective_time("all_reduce", 16 * MiB, _group(14e-6))
    default = collective_time("all_reduce", 16 * MiB, _group(None))
    assert (est.protocol, default.protocol) == ("LL128", "LL128")
    assert est.base_s == pytest.approx(14e-6)
    assert est.time_s - default.time_s == pytest.approx(10e-6, rel=1e-6)


def test_small_and_large_messages_keep_their_protocols() -> None:
    for size, proto in ((8 * 1024, "LL"), (8 * 1024 * MiB, "Simple")):
        a = collective_time("all_reduce", size, _group(14e-6))
        b = collective_time("all_reduce", size, _group(None))
        assert a.protocol == b.protocol == proto
        assert a.time_s == pytest.approx(b.time_s)


def test_a_dearer_ll128_never_makes_a_collective_faster() -> None:
    for size in (1 * MiB, 4 * MiB, 64 * MiB):
        assert (collective_time("all_reduce", size, _group(14e-6)).time_s
                >= collective_time("all_reduce", size, _group(None)).time_s)


def test_bundled_nvlink_fabrics_carry_nccl_s_ll128_cost() -> None:
    from gputwin.catalog.loader import default_catalog

    cat = default_catalog()
    assert cat.fabric("nvlink4").ll128_base_s == pytest.approx(14e-6)
    assert cat.fabric("pcie-gen5").ll128_base_s is None
