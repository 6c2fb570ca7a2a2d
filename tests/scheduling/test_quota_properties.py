"""Invariants of Kueue-style admission under random workloads (hypothesis).

After every scheduling cycle: no queue uses more than nominal + borrowing limit; the
other queues of a cohort never use more of a queue's nominal quota than its lending limit
(equivalently: they use at most their own nominal quota plus its lendable part); the book
agrees with the running jobs; no GPU is over-allocated; no job is preempted for one of
lower priority; every job is in exactly one state. End to end through the simulator:
every job ends completed / failed / running / queued exactly once.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_quota_plugins import LAYOUT, Driver, job, model

from gputwin.catalog.loader import default_catalog
from gputwin.run.simulate import simulate_world
from gputwin.run.world import World
from gputwin.scheduling import build_framework, resolve_profile
from gputwin.scheduling.quota import (
    ClusterQueueSpec,
    FlavorQuota,
    LocalQueueSpec,
    PreemptionPolicy,
    QuotaBook,
    TenancyContext,
    TenancyModel,
    with_tenancy,
)
from gputwin.topology.hardware import resolve_hardware
from gputwin.training.runtime import TrainingRuntime
from gputwin.workload.job import JobSpec

QUEUES = ("a", "b", "c")
within = st.sampled_from(["Never", "LowerPriority", "LowerOrNewerEqualPriority"])
reclaim = st.sampled_from(["Never", "LowerPriority", "Any"])
limit = st.sampled_from([None, None, 0, 4, 8, 16])


@st.composite
def tenancies(draw: st.DrawFn) -> TenancyModel:
    cqs: dict[str, Any] = {}
    for name in QUEUES:
        cqs[name] = {
            "cohort": draw(st.sampled_from(["c", "c", "c", None])),
            "queueing_strategy": draw(st.sampled_from(["StrictFIFO", "BestEffortFIFO"])),
            "quotas": {"h100": {"nominal": draw(st.sampled_from([0, 4, 8, 16, 24])),
                                "borrowing_limit": draw(limit),
                                "lending_limit": draw(limit)}},
            "preemption": {
                "within_cluster_queue": draw(within),
                "reclaim_within_cohort": draw(reclaim),
                "borrow_within_cohort": {"policy": draw(st.sampled_from(["Never",
                                                                         "LowerPriority"]))},
            },
        }
    return model(cqs, never_preempt_higher_priority=draw(st.booleans()))


events = st.lists(st.tuples(st.sampled_from(["submit", "submit", "finish"]),
                            st.sampled_from(QUEUES), st.sampled_from([1, 2, 4, 8, 16]),
                            st.integers(0, 3)), min_size=1, max_size=40)


def check_invariants(d: Driver, prio: dict[str, int], submitted: set[str],
                     finished: set[str]) -> None:
    book, m = d.book, d.book.model
    use = {n: book.usage[n]["h100"] for n in QUEUES}
    for name, cq in m.cluster_queues.items():
        q = cq.quota("h100")
        assert q is not None and use[name] >= 0
        if q.borrowing_limit_milli is not None:
            assert use[name] <= q.nominal_milli + q.borrowing_limit_milli
        if cq.cohort is None:
            assert use[name] <= q.nominal_milli
            continue
        members = [c for c in m.cluster_queues.values() if c.cohort == cq.cohort]
        others = [c for c in members if c.name != name]
        nominal_others = sum(c.quotas[0][1].nominal_milli for c in others)
        lend = q.nominal_milli if q.lending_limit_milli is None else min(
            q.lending_limit_milli, q.nominal_milli)  # the lendable part, from its definition
        assert sum(use[c.name] for c in others) <= nominal_others + lend
        assert sum(use[c.name] for c in members) <= nominal_others + q.nominal_milli
    # the book agrees with what runs; the ledger never over-allocates
    for name in QUEUES:
        held = sum(a.milli for a in book.admitted.values() if a.cluster_queue == name)
        assert held == use[name]
    assert set(book.admitted) == set(d.running)
    assert (d.ledger.free_array() >= 0).all()
    assert d.ledger.allocated_total == sum(j.num_gpus for j in d.running.values())
    # no victim has a higher priority than its preemptor (the default protection)
    if m.never_preempt_higher_priority:
        for victim, reason in d.preempted:
            match = re.match(r"preempted by (\S+)", reason)
            assert match is not None and prio[victim] <= prio[match.group(1)]
    # every job in exactly one state
    queued = {q.job_id for q in d.fw.queue.jobs()}
    states = [queued, set(d.running), set(d.rejected), finished]
    assert sum(len(s) for s in states) == len(submitted)
    assert set().union(*states) == submitted


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenancies(), events)
def test_property_admission_invariants(m: TenancyModel,
                                       evs: list[tuple[str, str, int, int]]) -> None:
    d = Driver(m)
    prio: dict[str, int] = {}
    submitted: set[str] = set()
    finished: set[str] = set()
    for i, (kind, queue, gpus, p) in enumerate(evs):
        d.now = float(i)
        if kind == "submit":
            j = job(f"j{i}", queue, gpus, t=d.now, prio=p)
            prio[j.job_id] = d.book.priority(j)
            submitted.add(j.job_id)
            d.submit(j)
        elif d.running:
            victim = sorted(d.running)[p % len(d.running)]
            d.finish(victim)
            finished.add(victim)
        d.cycle()
        check_invariants(d, prio, submitted, finished)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenancies(), st.lists(st.tuples(st.sampled_from(QUEUES), st.sampled_from([1, 4, 8, 16]),
                                       st.integers(0, 3), st.floats(0, 500),
                                       st.floats(10, 400)), min_size=1, max_size=25),
       st.sampled_from([None, 600.0]))
@example(
    m=TenancyModel(flavors={'h100': 'h100'},
     cluster_queues={'a': ClusterQueueSpec(name='a',
       quotas=(('h100',
         FlavorQuota(nominal_milli=8000,
          borrowing_limit_milli=None,
          lending_limit_milli=None)),),
       cohort='c',
       queueing_strategy='BestEffortFIFO',
       preemption=PreemptionPolicy(within_cluster_queue='LowerPriority',
        reclaim_within_cohort='Never',
        borrow_within_cohort='Never',
        max_priority_threshold=None)),
      'b': ClusterQueueSpec(name='b',
       quotas=(('h100',
         FlavorQuota(nominal_milli=0,
          borrowing_limit_milli=None,
          lending_limit_milli=None)),),
       cohort='c',
       queueing_strategy='StrictFIFO',
       preemption=PreemptionPolicy(within_cluster_queue='Never',
        reclaim_within_cohort='Never',
        borrow_within_cohort='Never',
        max_priority_threshold=None)),
      'c': ClusterQueueSpec(name='c',
       quotas=(('h100',
         FlavorQuota(nominal_milli=0,
          borrowing_limit_milli=None,
          lending_limit_milli=None)),),
       cohort='c',
       queueing_strategy='StrictFIFO',
       preemption=PreemptionPolicy(within_cluster_queue='Never',
        reclaim_within_cohort='Never',
        borrow_within_cohort='Never',
        max_priority_threshold=None))},
     local_queues={'a': LocalQueueSpec(name='a',
       cluster_queue='a',
       priority_class=None),
      'b': LocalQueueSpec(name='b', cluster_queue='b', priority_class=None),
      'c': LocalQueueSpec(name='c', cluster_queue='c', priority_class=None)},
     priority_classes={},
     default_priority_class=None,
     default_local_queue=None,
     never_preempt_higher_priority=False),
    spec=[('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 10.0),
     ('a', 1, 0, 0.0, 11.0),
     ('a', 8, 1, 10.0, 10.0)],
    horizon=None,
)  # regression: a victim started earlier in the same cycle (un-started)
def test_property_every_job_ends_in_one_state(m: TenancyModel, spec: list[Any],
                                              horizon: float | None) -> None:
    hw = resolve_hardware(default_catalog(), system="dgx-h100")
    book = QuotaBook(m)
    ctx = TenancyContext(layout=LAYOUT, estimate_runtime=lambda j: j.fixed_duration_s or 0.0,
                         gpu_type="h100", quota=book)
    fw = build_framework(with_tenancy(resolve_profile("fifo")), ctx)
    jobs = sorted((JobSpec(job_id=f"j{i}", kind="x", tenant=q, model="m", num_gpus=g,
                           submit_time_s=t, fixed_duration_s=dur, priority=p)
                   for i, (q, g, p, t, dur) in enumerate(spec)),
                  key=lambda j: (j.submit_time_s, j.job_id))
    world = World(hw, LAYOUT, jobs, fw, TrainingRuntime(hw, {}), checkpoint_interval_s=60.0,
                  quota=book)
    result = simulate_world(world, name="p", seed=0, horizon_s=horizon)
    assert sorted(j.job_id for j in result.jobs) == sorted(j.job_id for j in jobs)
    assert sum(result.summary["jobs_by_status"].values()) == len(jobs)
    for rec in result.jobs:
        assert rec.status in ("completed", "failed", "running", "queued")
        if rec.status == "completed":
            assert rec.end_time_s is not None and rec.start_time_s is not None
        if rec.status == "queued":
            assert rec.end_time_s is None and rec.reason
    if horizon is None:  # run to the end: every job completed or (never fits) failed
        assert all(j.status in ("completed", "failed") for j in result.jobs)
        assert all(u == 0 for per in book.usage.values() for u in per.values())
