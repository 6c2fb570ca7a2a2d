"""The bisection bound of all-to-all on a host-routed (PCIe) scale-up domain."""

from __future__ import annotations

import pytest

from gputwin.topology.collectives import CommGroup, LinkLevel, collective_time

GiB = 2.0**30
LINK = 63e9  # bytes/s per direction (a Gen5 x16 slot)
EFF = 0.44


def _group(n: int, bisection: float | None) -> CommGroup:
    return CommGroup(n, n, LinkLevel(LINK, 2e-6, EFF, bisection_bytes_per_s=bisection), None)


def test_eight_cards_are_bound_by_the_halves_link() -> None:
    # 4 x 4 pairs across, S/8 each: 2 S per direction -> busbw = 7/8 x S / (2 S / B_x).
    est = collective_time("all_to_all", 64 * GiB, _group(8, 50e9))
    assert est.busbw_bytes_per_s == pytest.approx(7 / 16 * 50e9, rel=0.01)
    free = collective_time("all_to_all", 64 * GiB, _group(8, None))
    assert free.busbw_bytes_per_s == pytest.approx(LINK * EFF, rel=0.01)


@pytest.mark.parametrize(("n", "binds"), [(2, False), (3, False), (4, False), (6, False),
                                          (7, True), (8, True)])
def test_the_halves_bind_only_for_large_groups(n: int, binds: bool) -> None:
    # floor(n/2) x ceil(n/2) / n of the buffer crosses against (n-1)/n on each GPU's link:
    # with the halves' link at 1.9x the GPU's effective rate that binds from 7 GPUs on
    # (floor x ceil / (n-1): 1.8 at 6 GPUs, 2.0 at 7, 2.3 at 8).
    bound = collective_time("all_to_all", GiB, _group(n, 1.9 * LINK * EFF))
    free = collective_time("all_to_all", GiB, _group(n, None))
    assert (bound.time_s > free.time_s * 1.001) is binds


def test_ring_collectives_ignore_the_bisection() -> None:
    for op in ("all_reduce", "all_gather", "reduce_scatter"):
        bound = collective_time(op, GiB, _group(8, 10e9))
        free = collective_time(op, GiB, _group(8, None))
        assert bound.time_s == pytest.approx(free.time_s), op


def test_more_bisection_is_never_slower() -> None:
    times = [collective_time("all_to_all", s, _group(8, bx)).time_s
             for s in (1e6, 1e8, 1e10) for bx in (20e9, 50e9, 200e9)]
    for k in range(0, len(times), 3):
        assert times[k] >= times[k + 1] >= times[k + 2]


def test_bundled_pcie_gen5_server_carries_its_bisection() -> None:
    from gputwin.requests import CollectiveRequest
    from gputwin.run.estimate_collective import estimate_collective

    def busbw(n: int) -> float:
        req = CollectiveRequest(op="all_to_all", size_bytes=8 * GiB, num_gpus=n,
                                system="rtx-pro-6000-server")
        return estimate_collective(req).busbw_bytes_per_s

    assert busbw(8) < 0.85 * busbw(4)
