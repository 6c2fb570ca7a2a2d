"""Framework mechanics: registry, profiles and args validation, statuses, permit holds."""

from __future__ import annotations

from typing import Any

import pytest
from sched_builders import LAYOUT, cycle, job, make_fw, started

from gputwin.cluster import Ledger, Placement
from gputwin.errors import InputError, UnknownNameError
from gputwin.scheduling import (
    PROFILES,
    CycleState,
    PermitPlugin,
    PreFilterPlugin,
    QueuedJob,
    Status,
    register,
    registered,
    resolve_profile,
)
from gputwin.scheduling.registry import unregister

CORE = ("fifo", "priority", "multifactor", "backfill-easy", "backfill-conservative",
        "best-effort", "binpack", "spread", "topology", "drf", "defrag")


def test_every_core_profile_resolves_and_runs() -> None:
    assert set(CORE) <= set(PROFILES)
    for name in CORE:
        fw = make_fw(name)
        for i, g in enumerate((8, 16, 4, 64, 2)):
            fw.submit(job(f"j{i}", g, dur=10.0 * (i + 1)), 0.0)
        result = cycle(fw, Ledger(LAYOUT), 0.0)
        assert sum(d.placement.num_gpus for d in result.starts) <= 64, name


def test_duplicate_plugin_names_are_rejected() -> None:
    class Dup(PreFilterPlugin):
        name = "pre-filter/dup-test"

    register(Dup)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register(Dup)
    finally:
        unregister("pre-filter/dup-test")
    class BadName(PreFilterPlugin):
        name = "score/wrong-point"

    with pytest.raises(ValueError, match="must be 'pre-filter/<name>'"):
        register(BadName)


def test_unknown_names_suggest_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'backfill-easy'") as exc:
        resolve_profile("backfill-eazy")
    assert "scheduler.profile" in str(exc.value)
    with pytest.raises(UnknownNameError, match="did you mean 'binpack'") as exc2:
        resolve_profile("fifo", {"score": [{"name": "binpak", "weight": 1}]})
    assert "scheduler.plugins.score.0" in str(exc2.value)
    with pytest.raises(UnknownNameError, match="extension point"):
        resolve_profile("fifo", {"scorer": ["binpack"]})


def test_bad_args_name_the_field() -> None:
    with pytest.raises(InputError, match=r"scheduler\.args\.backfill\.mode.*'easy'"):
        resolve_profile("backfill-easy", args={"backfill": {"mode": "greedy"}})
    with pytest.raises(InputError, match=r"scheduler\.args\.backfill\.bogus"):
        resolve_profile("backfill-easy", args={"backfill": {"bogus": 1}})
    with pytest.raises(UnknownNameError, match="plugin in this profile"):
        resolve_profile("fifo", args={"backfill": {"mode": "easy"}})


def test_profile_plugins_override_and_typed_args() -> None:
    r = resolve_profile("fifo", {"queueing": "backfill", "placement": "topology",
                                 "score": [{"name": "binpack", "weight": 2}]},
                        {"backfill": {"mode": "conservative", "max_job_test": 7},
                         "topology": {"required": "leaf"}})
    cls, args = r.single["queueing"]
    assert cls.name == "queueing/backfill" and args.mode == "conservative"  # type: ignore[attr-defined]
    assert args.max_job_test == 7  # type: ignore[attr-defined]
    assert r.single["placement"][1].required == "leaf"  # type: ignore[attr-defined]
    assert [(c.name, w) for c, _, w in r.lists["score"]] == [("score/binpack", 2.0)]
    assert "queue-sort/fifo" in registered("queue_sort")


class _Gate(PreFilterPlugin):
    name = "pre-filter/test-gate"

    def pre_filter(self, job: QueuedJob, state: CycleState) -> Status:
        if job.spec.kind == "never":
            return Status.reject("forbidden kind")
        if job.spec.tenant == "blocked":
            return Status.unschedulable("tenant over quota")
        return Status()


class _HoldFirst(PermitPlugin):
    """Holds every job's resources for 30 s before letting it start."""

    name = "permit/test-hold"

    def permit(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        first = job.data.setdefault("first_seen", state.now_s)
        if state.now_s - first < 30:
            return Status.wait("warming up", timeout_s=60)
        return Status()


@pytest.fixture()
def test_plugins() -> Any:
    register(_Gate)
    register(_HoldFirst)
    yield
    unregister(_Gate.name)
    unregister(_HoldFirst.name)


def test_status_values_not_exceptions(test_plugins: Any) -> None:
    fw = make_fw("fifo", plugins={"pre_filter": ["test-gate"], "queueing": "best-effort"})
    ledger = Ledger(LAYOUT)
    fw.submit(job("bad", 8, kind="never"), 0.0)
    fw.submit(job("quota", 8, tenant="blocked"), 0.0)
    fw.submit(job("ok", 8), 0.0)
    result = cycle(fw, ledger, 0.0)
    assert started(result) == ["ok"]
    assert [(r.job.job_id, r.reason) for r in result.rejections] == [("bad", "forbidden kind")]
    assert [j.job_id for j in fw.queued()] == ["quota"]
    assert fw.waiting_reason(fw.queued()[0]) == "tenant over quota"


def test_permit_wait_holds_resources_then_starts(test_plugins: Any) -> None:
    fw = make_fw("fifo", plugins={"permit": ["test-hold"], "queueing": "best-effort"})
    ledger = Ledger(LAYOUT)
    fw.submit(job("a", 48), 0.0)
    assert started(cycle(fw, ledger, 0.0)) == []  # held, not started
    fw.submit(job("b", 32), 1.0)
    assert started(cycle(fw, ledger, 1.0)) == []  # only 16 GPUs not held: b cannot fit
    assert fw.waiting_reason(fw.queued()[1])  # b has a reason
    result = cycle(fw, ledger, 31.0)
    assert started(result) == ["a"]
    assert result.starts[0].placement.num_gpus == 48
