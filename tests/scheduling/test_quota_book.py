"""Quota arithmetic of the Kueue-style book: nominal, borrowing, lending, cohorts.

Expected values are worked by hand from the Kueue documentation's definitions (nominal
quota; borrowing limit = most a queue may use beyond nominal; lending limit = most of its
unused nominal quota the cohort may borrow).
"""

from __future__ import annotations

from typing import Any

import pytest

from gputwin.errors import InputError, UnknownNameError
from gputwin.scenario.tenancy import TenancyConfig, tenancy_model
from gputwin.scheduling.quota import Mode, QuotaBook, TenancyModel
from gputwin.workload.job import JobSpec

G = 1000  # milli-GPU per GPU


def model(cqs: dict[str, Any], **extra: Any) -> TenancyModel:
    return tenancy_model(TenancyConfig.model_validate({"cluster_queues": cqs, **extra}))


def job(queue: str, gpus: int, milli: int = 1000, prio: int = 0) -> JobSpec:
    return JobSpec(job_id=f"{queue}-{gpus}-{milli}", kind="x", tenant=queue, model="m",
                   num_gpus=gpus, submit_time_s=0.0, fixed_duration_s=1.0, gpu_milli=milli,
                   priority=prio)


def two(a: dict[str, Any], b: dict[str, Any]) -> TenancyModel:
    return model({"a": {"cohort": "c", "quotas": {"h100": a}},
                  "b": {"cohort": "c", "quotas": {"h100": b}}})


# (case, model, usage a, usage b, queue asking, GPUs asked, mode, within, borrowable)
CASES = [
    ("alone fits", model({"a": {"quotas": {"h100": 16}}}), 8, None, "a", 8, Mode.FIT, 8, 0),
    ("alone too big", model({"a": {"quotas": {"h100": 16}}}), 8, None, "a", 16,
     Mode.NO_FIT, 8, 0),
    ("borrow idle", two({"nominal": 16}, {"nominal": 16}), 16, 0, "a", 8, Mode.BORROW, 0, 16),
    ("borrowing limit", two({"nominal": 16, "borrowing_limit": 4}, {"nominal": 16}),
     16, 0, "a", 8, Mode.NO_FIT, 0, 4),
    ("within borrowing limit", two({"nominal": 16, "borrowing_limit": 4}, {"nominal": 16}),
     16, 0, "a", 4, Mode.BORROW, 0, 4),
    ("lending limit", two({"nominal": 16}, {"nominal": 16, "lending_limit": 4}),
     16, 0, "a", 8, Mode.NO_FIT, 0, 4),
    ("part own, part borrowed", two({"nominal": 16}, {"nominal": 16}), 8, 0, "a", 16,
     Mode.BORROW, 8, 16),
    # b borrowed all of a's quota: a's nominal is not free until it reclaims it
    ("lent out", two({"nominal": 16}, {"nominal": 16}), 0, 32, "a", 8, Mode.NO_FIT, 0, 0),
    # b keeps its guaranteed 12 (= 16 - lending limit 4) even when a borrowed the rest
    ("guaranteed part", two({"nominal": 16}, {"nominal": 16, "lending_limit": 4}),
     20, 0, "b", 12, Mode.FIT, 12, 0),
    ("guaranteed part, not more", two({"nominal": 16}, {"nominal": 16, "lending_limit": 4}),
     20, 0, "b", 16, Mode.NO_FIT, 12, 0),
]


@pytest.mark.parametrize(("case", "m", "ua", "ub", "who", "need", "mode", "within", "borrow"),
                         CASES, ids=[c[0] for c in CASES])
def test_admission_arithmetic(case: str, m: TenancyModel, ua: int, ub: int | None, who: str,
                              need: int, mode: Mode, within: int, borrow: int) -> None:
    book = QuotaBook(m)
    book.usage["a"]["h100"] = ua * G
    if ub is not None:
        book.usage["b"]["h100"] = ub * G
    cq = m.cluster_queues[who]
    verdict = book.assign(job(who, need), cq)
    assert (verdict.mode, verdict.within_milli, verdict.borrowable_milli) == (
        mode, within * G, borrow * G)


def test_waiting_reason_names_queue_need_and_headroom() -> None:
    m = model({"team-a": {"quotas": {"h100": 16}}})
    book = QuotaBook(m)
    book.usage["team-a"]["h100"] = 8 * G
    verdict = book.assign(job("team-a", 16), m.cluster_queues["team-a"])
    assert verdict.reason == ("queue team-a: needs 16 GPUs of h100, 8 free within nominal, "
                              "0 borrowable")


def test_fractional_requests_count_their_share() -> None:
    m = model({"a": {"quotas": {"h100": 1}}})
    book = QuotaBook(m)
    book.usage["a"]["h100"] = 600
    cq = m.cluster_queues["a"]
    assert book.assign(job("a", 1, milli=400), cq).mode == Mode.FIT
    assert book.assign(job("a", 1, milli=500), cq).mode == Mode.NO_FIT


def test_flavours_tried_in_order_first_fit_or_borrow_wins() -> None:
    m = model({"a": {"cohort": "c", "quotas": {"h100": 8, "a100": 8}},
               "b": {"cohort": "c", "quotas": {"h100": 8, "a100": 8}}})
    book = QuotaBook(m)
    cq = m.cluster_queues["a"]
    assert book.assign(job("a", 8), cq).flavor == "h100"
    book.usage["a"]["h100"] = 8 * G
    assert book.assign(job("a", 8), cq).flavor == "h100"  # borrows b's idle h100 first
    book.usage["b"]["h100"] = 8 * G
    assert book.assign(job("a", 8), cq).flavor == "a100"


def test_lent_gpus_are_attributed_to_idle_lenders() -> None:
    m = model({"a": {"cohort": "c", "quotas": {"h100": 16}},
               "b": {"cohort": "c", "quotas": {"h100": 16}},
               "c": {"cohort": "c", "quotas": {"h100": 16}}})
    book = QuotaBook(m)
    book.usage["a"]["h100"] = 28 * G  # borrows 12
    book.usage["b"]["h100"] = 8 * G  # idle 8
    # c idle 16: a's 12 borrowed GPUs are split 8:16 between b and c
    lent = book.lent_now()
    assert lent["b"] == pytest.approx(4 * G) and lent["c"] == pytest.approx(8 * G)
    assert lent.get("a", 0.0) == 0.0


def test_accounting_integrates_used_borrowed_lent() -> None:
    m = two({"nominal": 8}, {"nominal": 8})
    book = QuotaBook(m)
    big = job("a", 12)
    book.assign(big, m.cluster_queues["a"])
    book.admit(big, 0.0)
    book.release(big.job_id, 3600.0, preempted=True)
    book.advance(7200.0)
    a, b = book.stats["a"], book.stats["b"]
    assert a.used_milli_s / G / 3600 == pytest.approx(12.0)
    assert a.borrowed_milli_s / G / 3600 == pytest.approx(4.0)
    assert b.lent_milli_s / G / 3600 == pytest.approx(4.0)
    assert a.admissions == 1 and a.preemptions == {"other": 1}


def test_priority_from_local_queue_class_default_class_or_job() -> None:
    m = model({"a": {"quotas": {"h100": 8}}},
              priority_classes={"hi": 1000, "lo": 10},
              local_queues={"serve": {"cluster_queue": "a", "priority_class": "hi"},
                            "plain": "a"})
    book = QuotaBook(m)
    assert book.priority(job("serve", 1)) == 1000
    assert book.priority(job("plain", 1, prio=7)) == 7  # no class anywhere: the job's own
    m2 = model({"a": {"quotas": {"h100": 8}}}, priority_classes={"lo": 10},
               default_priority_class="lo")
    assert QuotaBook(m2).priority(job("a", 1, prio=7)) == 10


def test_unknown_local_queue_and_default_local_queue() -> None:
    m = model({"a": {"quotas": {"h100": 8}}})
    assert QuotaBook(m).cluster_queue(job("nope", 1)) is None
    m2 = model({"a": {"quotas": {"h100": 8}}}, default_local_queue="a")
    cq = QuotaBook(m2).cluster_queue(job("nope", 1))
    assert cq is not None and cq.name == "a"


def test_ceiling_is_nominal_plus_what_the_cohort_can_lend() -> None:
    m = two({"nominal": 8, "borrowing_limit": 100}, {"nominal": 16, "lending_limit": 4})
    book = QuotaBook(m)
    assert book.ceiling_milli(m.cluster_queues["a"], "h100") == 12 * G
    alone = model({"x": {"quotas": {"h100": 8}}})
    assert QuotaBook(alone).ceiling_milli(alone.cluster_queues["x"], "h100") == 8 * G


@pytest.mark.parametrize(("cfg", "where"), [
    ({"cluster_queues": {"a": {"quotas": {"h100": 8}}},
      "local_queues": {"q": {"cluster_queue": "b"}}}, "tenancy.local_queues.q.cluster_queue"),
    ({"cluster_queues": {"a": {"quotas": {"h100": 8}}}, "flavors": {"a100": "a100-sxm-80gb"}},
     "tenancy.cluster_queues.a.quotas.h100"),
    ({"cluster_queues": {"a": {"quotas": {"h100": 8}}}, "default_priority_class": "hi"},
     "tenancy.default_priority_class"),
    ({"cluster_queues": {"a": {"quotas": {"h100": 8}}}, "default_local_queue": "zz"},
     "tenancy.default_local_queue"),
])
def test_bad_cross_references_name_the_field(cfg: dict[str, Any], where: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        tenancy_model(TenancyConfig.model_validate(cfg))
    assert info.value.where == where


def test_flavour_must_be_the_clusters_gpu() -> None:
    cfg = TenancyConfig.model_validate({"cluster_queues": {"a": {"quotas": {"a100-sxm-80gb": 8}}}})
    with pytest.raises(InputError, match="only 'h100-sxm-80gb'"):
        tenancy_model(cfg, "h100-sxm-80gb")
    assert tenancy_model(cfg, "a100-sxm-80gb").flavors == {"a100-sxm-80gb": "a100-sxm-80gb"}
