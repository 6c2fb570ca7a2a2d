"""Policies, hand-worked: backfill (EASY/conservative), priority, multifactor, DRF,
bin-pack/spread, topology levels, preemption victims, defragmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sched_builders import LAYOUT, cycle, job, make_fw, started

from gputwin.cluster import ClusterLayout, Ledger, make_placement
from gputwin.scheduling import Framework


def run_cycles(fw: Framework, jobs: list, until: float = 1e6) -> dict[str, tuple[float, float]]:  # type: ignore[type-arg]
    """Tiny event loop (trace durations): returns {job: (start, end)}."""
    ledger = Ledger(fw.ctx.layout)
    pending = sorted(jobs, key=lambda j: j.submit_time_s)
    running: dict[str, float] = {}
    out: dict[str, tuple[float, float]] = {}
    now = 0.0
    while now <= until and (pending or running or fw.num_queued()):
        for job_id, end in sorted(running.items(), key=lambda x: x[1]):
            if end <= now:
                ledger.release(job_id)
                fw.finished(job_id, now)
                del running[job_id]
        while pending and pending[0].submit_time_s <= now:
            fw.submit(pending.pop(0), now)
        for d in cycle(fw, ledger, now).starts:
            end = now + (d.job.fixed_duration_s or 0.0)
            running[d.job.job_id] = end
            out[d.job.job_id] = (now, end)
        times = [*running.values(), *(j.submit_time_s for j in pending[:1])]
        if not times:
            break
        now = min(times)
    return out


EASY_JOBS = [
    job("A", 56, t=0, dur=100),  # nodes 0-6
    job("B", 64, t=1, dur=10),  # the whole cluster: blocked until A ends (shadow 100)
    job("C", 4, t=2, dur=50),  # ends at 52 < 100: backfills
    job("D", 4, t=3, dur=200),  # would end after the shadow and needs reserved GPUs: waits
    job("E", 4, t=4, dur=90),  # ends at 94 < 100: backfills
]


def test_easy_backfill_hand_worked() -> None:
    fw = make_fw("backfill-easy", args={"backfill": {"runtime_estimate": "oracle"}})
    got = run_cycles(fw, EASY_JOBS)
    assert got["A"] == (0, 100)
    assert got["C"] == (2, 52) and got["E"] == (4, 94)
    assert got["B"] == (100, 110)  # not delayed by the backfilled jobs
    assert got["D"] == (110, 310)


def test_fifo_does_not_backfill_and_conservative_matches_here() -> None:
    fifo = run_cycles(make_fw("fifo"), EASY_JOBS)
    assert fifo["B"] == (100, 110) and fifo["C"][0] == 110  # C waits behind B
    cons = run_cycles(make_fw("backfill-conservative",
                              args={"backfill": {"runtime_estimate": "oracle"}}), EASY_JOBS)
    assert cons == run_cycles(make_fw("backfill-easy",
                                      args={"backfill": {"runtime_estimate": "oracle"}}),
                              EASY_JOBS)


def test_conservative_protects_every_reservation_easy_only_the_first() -> None:
    # A (48) runs until 100; B (48) is reserved at 100, sparing 16 GPUs at its shadow time;
    # C (64) is second in line; D (16 GPUs, 500 s) fits now on the spare 16.
    jobs = [job("A", 48, t=0, dur=100), job("B", 48, t=1, dur=100),
            job("C", 64, t=2, dur=100), job("D", 16, t=3, dur=500)]
    args = {"backfill": {"runtime_estimate": "oracle"}}
    easy = run_cycles(make_fw("backfill-easy", args=args), jobs)
    cons = run_cycles(make_fw("backfill-conservative", args=args), jobs)
    # EASY protects only B: D starts at once and pushes C to D's end.
    assert easy["B"] == (100, 200) and easy["D"] == (3, 503) and easy["C"] == (503, 603)
    # Conservative also reserves C at 200: D may not overlap it, so it runs after C.
    assert cons["B"] == (100, 200) and cons["C"] == (200, 300) and cons["D"] == (300, 800)


def test_priority_order_and_preemption_victims() -> None:
    fw = make_fw("priority")
    ledger = Ledger(LAYOUT)
    for i in range(8):  # 8 low-priority jobs fill the cluster; younger ones start later
        fw.submit(job(f"low{i}", 8, t=float(i), dur=1000, priority=i % 2), float(i))
    cycle(fw, ledger, 10.0)
    fw.submit(job("high", 16, t=20, dur=10, priority=5), 20.0)
    result = cycle(fw, ledger, 20.0)
    victims = [p.job.job_id for p in result.preemptions]
    assert started(result) == ["high"]
    assert len(victims) == 2  # exactly enough room, the others reprieved
    assert all(v.startswith("low") for v in victims)
    assert {int(v[3:]) % 2 for v in victims} == {0}  # lowest priority first
    assert not ledger.free_total  # no GPU left idle or over-allocated


def test_multifactor_fairshare_decays_with_half_life() -> None:
    fw = make_fw("multifactor", args={"multifactor": {"half_life_s": 100.0,
                                                      "tenant_shares": {"a": 1, "b": 1},
                                                      "weight_age": 0.0,
                                                      "weight_job_size": 0.0}})
    sort = fw.plugins.queue_sort
    ledger = Ledger(LAYOUT)
    fw.submit(job("heavy", 64, tenant="a", dur=100), 0.0)
    cycle(fw, ledger, 0.0)
    ledger.release("heavy")
    fw.finished("heavy", 100.0)
    # usage is integrated per interval: 64 GPUs x 100 s, decayed afterwards
    assert sort.usage["a"] == pytest.approx(64 * 100)  # type: ignore[attr-defined]
    fs_a = sort.fairshare("a", 200.0)  # type: ignore[attr-defined]
    fs_b = sort.fairshare("b", 200.0)  # type: ignore[attr-defined]
    assert fs_b == 1.0 and fs_a < fs_b
    # Only tenant a used the cluster: U = 1, S = 1/2 -> F = 2^(-U/S) = 2^-2
    assert fs_a == pytest.approx(0.25)
    before = sort.usage["a"]  # type: ignore[attr-defined]
    sort.fairshare("a", 300.0)  # type: ignore[attr-defined]
    assert sort.usage["a"] == pytest.approx(before * 0.5)  # type: ignore[attr-defined]
    # the under-served tenant goes first
    fw.submit(job("a2", 8, t=300, tenant="a"), 300.0)
    fw.submit(job("b1", 8, t=301, tenant="b"), 301.0)
    assert started(cycle(fw, ledger, 400.0))[0] == "b1"


def test_drf_interleaves_tenants_by_dominant_share() -> None:
    fw = make_fw("drf", args={"drf": {"tenant_shares": {"big": 3.0, "small": 1.0}}})
    for i in range(8):
        fw.submit(job(f"big{i}", 8, t=i, tenant="big"), float(i))
    for i in range(8):
        fw.submit(job(f"small{i}", 8, t=10 + i, tenant="small"), 10.0 + i)
    result = cycle(fw, Ledger(LAYOUT), 20.0)
    owners = [d.job.tenant for d in result.starts]
    assert len(owners) == 8
    assert owners.count("big") == 6 and owners.count("small") == 2  # 3:1 weights


def test_binpack_vs_spread_choose_fullest_or_emptiest_node() -> None:
    ledger = Ledger(LAYOUT)
    ledger.allocate("x", make_placement(LAYOUT, {3: 6, 5: 2}))
    for profile, node in (("binpack", 3), ("spread", 0)):
        fw = make_fw(profile)
        fw.submit(job("j", 2), 0.0)
        result = fw.schedule(0.0, __import__("gputwin.cluster", fromlist=["x"])
                             .take_snapshot(ledger))
        assert result.starts[0].placement.nodes == (node,), profile


def test_topology_required_and_preferred_levels() -> None:
    layout = ClusterLayout(num_nodes=8, gpus_per_node=8, nodes_per_leaf=2, leaves_per_pod=2)
    ledger = Ledger(layout)
    # leaves: {0,1} {2,3} | {4,5} {6,7}; pods: leaves 0-1, leaves 2-3
    ledger.allocate("x", make_placement(layout, {1: 8, 2: 8, 5: 8}))
    # free whole nodes: 0, 3, 4, 6, 7 -> only leaf 3 holds 2 nodes
    fw = make_fw("topology", layout=layout)
    fw.submit(job("two", 16), 0.0)
    (d,) = cycle(fw, ledger, 0.0).starts
    assert d.placement.nodes == (6, 7) and d.placement.num_leaves == 1
    # 3 nodes: no leaf holds them; 'required: pod' keeps them inside one pod (4 + 6/7 … no:
    # pod 1 has 4 free? nodes 4 only left) -> unschedulable; without requirement it spans.
    strict = make_fw("topology", layout=layout, args={"topology": {"required": "leaf"}})
    strict.submit(job("three", 24), 0.0)
    assert started(cycle(strict, ledger, 0.0)) == []
    loose = make_fw("topology", layout=layout)
    loose.submit(job("three", 24), 0.0)
    (d3,) = cycle(loose, ledger, 0.0).starts
    assert d3.placement.num_nodes == 3


def test_defragmenter_moves_small_jobs_for_a_blocked_gang() -> None:
    layout = ClusterLayout(num_nodes=4, gpus_per_node=8, nodes_per_leaf=4)
    fw = make_fw("defrag", layout=layout)
    ledger = Ledger(layout)
    for i in range(4):  # four 4-GPU jobs, one per node: 16 GPUs free, no whole node
        fw.submit(job(f"s{i}", 4, dur=1000), 0.0)
    fw.plugins.placement = make_fw("spread", layout=layout).plugins.placement
    fw.plugins.score = make_fw("spread", layout=layout).plugins.score
    cycle(fw, ledger, 0.0)
    assert sorted(ledger.free_per_node()) == [4, 4, 4, 4]
    fw2 = make_fw("defrag", layout=layout)
    for j in fw.running.values():  # hand the running jobs to a defrag framework
        fw2.runs.add(j, 0)
    fw2.submit(job("gang", 16), 1.0)
    result = cycle(fw2, ledger, 1.0)
    moved = [p for p in result.preemptions if p.migrate_to is not None]
    assert 0 < len(moved) <= 2 and started(result) == ["gang"]
    assert min(ledger.free_per_node()) >= 0 and ledger.free_total == 0
    assert math.isfinite(float(np.sum(ledger.free_array())))
