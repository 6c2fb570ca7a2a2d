"""Kueue-style admission and preemption through the scheduling framework (hand-built
cases on a 4-node × 8-GPU cluster, driven cycle by cycle against a real ledger)."""

from __future__ import annotations

from typing import Any

import pytest

from gputwin.cluster import ClusterLayout, Ledger
from gputwin.cluster.snapshot import take_snapshot
from gputwin.errors import InputError
from gputwin.scenario.tenancy import TenancyConfig, tenancy_model
from gputwin.scheduling import PluginContext, build_framework, resolve_profile
from gputwin.scheduling.api import CycleResult
from gputwin.scheduling.quota import QuotaBook, TenancyContext, TenancyModel, with_tenancy
from gputwin.workload.job import JobSpec

LAYOUT = ClusterLayout(num_nodes=4, gpus_per_node=8, nodes_per_leaf=2)


def model(cqs: dict[str, Any], **extra: Any) -> TenancyModel:
    return tenancy_model(TenancyConfig.model_validate({"cluster_queues": cqs, **extra}))


def job(job_id: str, queue: str, gpus: int, t: float = 0.0, prio: int = 0) -> JobSpec:
    return JobSpec(job_id=job_id, kind="x", tenant=queue, model="m", num_gpus=gpus,
                   submit_time_s=t, fixed_duration_s=100.0, priority=prio)


class Driver:
    """Applies each cycle's decisions to a ledger, like the simulator (preempted jobs go
    back to the queue)."""

    def __init__(self, m: TenancyModel, layout: ClusterLayout = LAYOUT,
                 profile: str = "fifo") -> None:
        self.book = QuotaBook(m)
        ctx = TenancyContext(layout=layout, estimate_runtime=lambda j: 100.0,
                             gpu_type="h100", quota=self.book)
        self.fw = build_framework(with_tenancy(resolve_profile(profile)), ctx)
        self.ledger = Ledger(layout)
        self.now = 0.0
        self.running: dict[str, JobSpec] = {}
        self.preempted: list[tuple[str, str]] = []
        self.rejected: dict[str, str] = {}

    def submit(self, *jobs: JobSpec) -> None:
        for j in jobs:
            rejection = self.fw.submit(j, self.now)
            if rejection is not None:
                self.rejected[j.job_id] = rejection.reason

    def cycle(self) -> CycleResult:
        res = self.fw.schedule(self.now, take_snapshot(self.ledger))
        for p in res.preemptions:
            self.ledger.release(p.job.job_id)
            del self.running[p.job.job_id]
            self.preempted.append((p.job.job_id, p.reason))
            self.fw.submit(p.job, self.now, 0.5)
        for d in res.starts:
            self.ledger.allocate(d.job.job_id, d.placement)
            self.running[d.job.job_id] = d.job
        for r in res.rejections:
            self.rejected[r.job.job_id] = r.reason
        return res

    def start_in_turn(self, *jobs: JobSpec) -> None:
        """Submit and start ``jobs`` one per second (distinct start times)."""
        for j in jobs:
            self.submit(j)
            self.cycle()
            assert j.job_id in self.running
            self.now += 1.0

    def finish(self, job_id: str) -> None:
        self.ledger.release(job_id)
        del self.running[job_id]
        self.fw.finished(job_id, self.now)

    def reason(self, job_id: str) -> str:
        return next(q.reason for q in self.fw.queue.jobs() if q.job_id == job_id)


COHORT = {
    "a": {"cohort": "c", "quotas": {"h100": 16},
          "preemption": {"reclaim_within_cohort": "Any"}},
    "b": {"cohort": "c", "quotas": {"h100": 16},
          "preemption": {"reclaim_within_cohort": "Any"}},
}


def test_admits_within_nominal_and_explains_the_wait() -> None:
    d = Driver(model({"a": {"quotas": {"h100": 16}}}))
    d.submit(job("j1", "a", 8), job("j2", "a", 8), job("j3", "a", 8))
    d.cycle()
    assert set(d.running) == {"j1", "j2"}  # 32 GPUs free, 16 of quota
    assert d.reason("j3") == ("queue a: needs 8 GPUs of h100, 0 free within nominal, "
                              "0 borrowable")


def test_borrows_idle_quota_of_the_cohort_then_it_is_reclaimed() -> None:
    d = Driver(model(COHORT))
    d.start_in_turn(job("a1", "a", 16), job("a2", "a", 16))
    assert d.book.usage["a"]["h100"] == 32_000  # 16 of it borrowed from b
    d.now = 10.0
    d.submit(job("b1", "b", 8, t=10.0))
    d.cycle()
    # b is within its nominal quota: it takes back what a borrowed (the newest a job)
    assert d.preempted and d.preempted[0][0] == "a2" and "reclaim" in d.preempted[0][1]
    assert "b1" in d.running
    assert d.book.stats["a"].preemptions == {"reclaim": 1}


def test_reclaim_lower_priority_spares_equal_priority_borrowers() -> None:
    cqs = {**COHORT, "b": {**COHORT["b"],
                           "preemption": {"reclaim_within_cohort": "LowerPriority"}}}
    d = Driver(model(cqs))
    d.start_in_turn(job("a1", "a", 16, prio=5), job("a2", "a", 16, prio=5))
    d.submit(job("b1", "b", 8, prio=5))
    d.cycle()
    assert not d.preempted and "b1" not in d.running
    d.submit(job("b2", "b", 8, prio=6))
    d.cycle()
    assert [p for p, _ in d.preempted] == ["a2"] and "b2" in d.running


def test_never_preempts_higher_priority_even_with_reclaim_any() -> None:
    m = model(COHORT, priority_classes={"critical": 1000, "train": 100},
              local_queues={"serve": {"cluster_queue": "a", "priority_class": "critical"},
                            "team": {"cluster_queue": "b", "priority_class": "train"}})
    d = Driver(m)
    d.start_in_turn(job("s1", "serve", 16), job("s2", "serve", 16))  # borrows all of b's
    d.submit(job("t1", "team", 8))
    d.cycle()
    assert not d.preempted and "t1" not in d.running
    m_any = model(COHORT, never_preempt_higher_priority=False,
                  priority_classes={"critical": 1000, "train": 100},
                  local_queues={"serve": {"cluster_queue": "a", "priority_class": "critical"},
                                "team": {"cluster_queue": "b", "priority_class": "train"}})
    d2 = Driver(m_any)  # Kueue's plain `Any`: reclaims regardless of priority
    d2.start_in_turn(job("s1", "serve", 16), job("s2", "serve", 16))
    d2.submit(job("t1", "team", 8))
    d2.cycle()
    assert [p for p, _ in d2.preempted] == ["s2"]


def test_within_queue_preemption_by_priority() -> None:
    cq = {"a": {"quotas": {"h100": 16},
                "preemption": {"within_cluster_queue": "LowerPriority"}}}
    d = Driver(model(cq))
    d.start_in_turn(job("lo1", "a", 8, prio=1), job("lo2", "a", 8, prio=1))
    d.submit(job("hi", "a", 8, prio=9))
    d.cycle()
    # the most recently started of the equal-priority victims goes (least work lost)
    assert [p for p, _ in d.preempted] == ["lo2"] and "hi" in d.running
    assert d.book.stats["a"].preemptions == {"within-queue": 1}
    d.submit(job("eq", "a", 8, prio=1))
    d.cycle()
    assert [p for p, _ in d.preempted] == ["lo2"]  # equal priority: not a victim


def test_never_policy_means_wait() -> None:
    d = Driver(model({"a": {"quotas": {"h100": 8}}}))
    d.submit(job("lo", "a", 8, prio=1))
    d.cycle()
    d.submit(job("hi", "a", 8, prio=9))
    d.cycle()
    assert not d.preempted and "hi" not in d.running


def test_borrow_within_cohort_preempts_lower_priority_below_threshold() -> None:
    pol = {"borrow_within_cohort": {"policy": "LowerPriority", "max_priority_threshold": 50}}
    cqs = {"a": {"cohort": "c", "quotas": {"h100": 8}, "preemption": pol},
           "b": {"cohort": "c", "quotas": {"h100": 8}},
           "x": {"cohort": "c", "quotas": {"h100": 0}}}
    d = Driver(model(cqs))
    d.submit(job("x1", "x", 8, prio=10), job("x2", "x", 8, prio=60))  # x borrows 16
    d.cycle()
    assert set(d.running) == {"x1", "x2"}
    d.submit(job("a1", "a", 16, prio=100))  # needs to borrow 8
    d.cycle()
    # only x1 (priority 10 <= threshold 50) may go; that frees 8 < 16: a1 must wait
    assert not d.preempted
    d.finish("x2")
    d.cycle()
    assert [p for p, _ in d.preempted] == ["x1"] and "a1" in d.running
    assert d.book.stats["x"].preemptions == {"borrow-within-cohort": 1}


def test_strict_fifo_blocks_only_its_own_queue() -> None:
    cqs = {"s": {"cohort": "c", "quotas": {"h100": 16}, "queueing_strategy": "StrictFIFO"},
           "e": {"cohort": "c", "quotas": {"h100": 16}}}
    d = Driver(model(cqs))
    d.submit(job("busy", "e", 24))  # e borrows 8 of s's quota
    d.cycle()
    d.submit(job("s-big", "s", 16, t=1.0), job("s-small", "s", 8, t=2.0),
             job("e-small", "e", 8, t=3.0))
    d.cycle()
    assert "s-small" not in d.running  # would fit, but behind the blocked head
    assert "waiting behind s-big (StrictFIFO)" in d.reason("s-small")
    assert "e-small" in d.running  # e's queue is not blocked: it borrows s's last 8
    cqs["s"]["queueing_strategy"] = "BestEffortFIFO"
    d2 = Driver(model(cqs))
    d2.submit(job("busy", "e", 24))
    d2.cycle()
    d2.submit(job("s-big", "s", 16, t=1.0), job("s-small", "s", 8, t=2.0))
    d2.cycle()
    assert "s-small" in d2.running


def test_jobs_within_nominal_go_before_borrowers() -> None:
    d = Driver(model({"a": {"cohort": "c", "quotas": {"h100": 8}},
                      "b": {"cohort": "c", "quotas": {"h100": 24}}}))
    d.submit(job("a-borrow", "a", 16, t=0.0), job("b-own", "b", 24, t=1.0))
    d.cycle()
    # a's 16-GPU job needs to borrow; b's job is within nominal and is considered first
    assert "b-own" in d.running and "a-borrow" not in d.running


def test_unknown_local_queue_and_impossible_requests_are_rejected() -> None:
    d = Driver(model({"a": {"quotas": {"h100": 8}}}))
    d.submit(job("lost", "nowhere", 8), job("huge", "a", 16))
    d.cycle()
    assert d.rejected["lost"] == "local queue 'nowhere' does not exist"
    assert "more than it can ever hold (8 incl. borrowing)" in d.rejected["huge"]
    assert d.fw.num_queued() == 0


def test_kueue_plugins_without_tenancy_fail_clearly() -> None:
    ctx = PluginContext(layout=LAYOUT, estimate_runtime=lambda j: 1.0)
    with pytest.raises(InputError, match="needs a `tenancy:` section"):
        build_framework(resolve_profile(None, {"pre_filter": ["kueue-quota"]}), ctx)


def test_with_tenancy_keeps_placement_and_drops_quota_blind_preemption() -> None:
    resolved = with_tenancy(resolve_profile("priority", {"placement": "topology"}))
    assert resolved.single["placement"][0].name == "placement/topology"
    assert [c.name for c, _, _ in resolved.lists["post_filter"]] == [
        "post-filter/kueue-preemption"]
    assert resolved.lists["pre_filter"][0][0].name == "pre-filter/kueue-quota"
