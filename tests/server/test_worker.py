"""Claiming, leases, cancellation of a running run and re-queueing after a crash."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select
from tests.server.builders import SMALL, Twin

from gputwin.server.models import Run
from gputwin.server.worker import (
    Heartbeat,
    StopRun,
    Supervisor,
    _progress_writer,
    claim,
    requeue_interrupted,
    run_one,
)


def _submit(twin: Twin) -> str:
    r = twin.client.post("/v1/runs", json={"set": SMALL}, headers=twin.as_("alice"))
    return str(r.json()["id"])


def _state(twin: Twin, run_id: str) -> str:
    with twin.app.state.sessions() as s:
        return str(s.scalar(select(Run.state).where(Run.id == run_id)))


def test_claim_takes_the_oldest_once(twin: Twin) -> None:
    first, second = _submit(twin), _submit(twin)
    engine = twin.app.state.engine
    got = [claim(engine), claim(engine), claim(engine)]
    assert [g[0] if g else None for g in got] == [first, second, None]


def test_cancel_stops_a_running_run_and_keeps_it_cancelled(twin: Twin) -> None:
    run_id = _submit(twin)
    claimed = claim(twin.app.state.engine)
    assert claimed is not None
    twin.client.delete(f"/v1/runs/{run_id}", headers=twin.as_("alice"))
    write = _progress_writer(twin.app.state.engine, run_id, claimed[1], lambda: True)
    with pytest.raises(StopRun):
        write(0.5)
    assert run_one(twin.app.state.engine, *claimed) == "stopped"
    assert _state(twin, run_id) == "cancelled"


def test_a_run_interrupted_by_a_crash_is_requeued_and_finished(twin: Twin) -> None:
    run_id = _submit(twin)
    claimed = claim(twin.app.state.engine)
    assert claimed is not None and _state(twin, run_id) == "running"
    # the worker holding it is alive: no server takes it back
    assert requeue_interrupted(twin.app.state.engine) == 0
    # its worker (or server) dies here; once the heartbeat is older than the lease timeout:
    assert requeue_interrupted(twin.app.state.engine, 10.0, now=time.time() + 11.0) == 1
    assert _state(twin, run_id) == "queued"
    # the old worker's lease is void: it cannot record a result any more
    write = _progress_writer(twin.app.state.engine, run_id, claimed[1], lambda: True)
    with pytest.raises(StopRun):
        write(0.5)
    assert twin.work() == 1 and _state(twin, run_id) == "done"
    assert twin.client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).json()[
        "attempts"] == 2


def test_a_worker_whose_server_died_stops(twin: Twin) -> None:
    _submit(twin)
    claimed = claim(twin.app.state.engine)
    assert claimed is not None
    assert run_one(twin.app.state.engine, *claimed, alive=lambda: False) == "stopped"


def test_a_run_interrupted_too_often_fails(twin: Twin) -> None:
    run_id = _submit(twin)
    for _ in range(3):
        assert claim(twin.app.state.engine) is not None
        requeue_interrupted(twin.app.state.engine, 0.0, now=time.time() + 1.0)
    assert _state(twin, run_id) == "failed"
    run = twin.client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).json()
    assert "interrupted 3 times" in run["error"]


def _heartbeat_at(twin: Twin, run_id: str) -> float:
    with twin.app.state.engine.connect() as conn:
        return float(conn.scalar(select(Run.heartbeat_at).where(Run.id == run_id)))


def test_a_held_run_beats_and_a_released_one_does_not(twin: Twin) -> None:
    run_id = _submit(twin)
    claimed = claim(twin.app.state.engine)
    assert claimed is not None
    first = _heartbeat_at(twin, run_id)
    heart = Heartbeat(twin.app.state.engine, alive=lambda: False)  # no thread loop: beat by hand
    heart.hold(claimed)
    time.sleep(0.01)
    heart.beat()
    beaten = _heartbeat_at(twin, run_id)
    assert beaten > first
    heart.hold(None)
    heart.beat()
    assert _heartbeat_at(twin, run_id) == beaten
    # a lease that is no longer held (re-queued) is not refreshed by its old worker
    requeue_interrupted(twin.app.state.engine, 0.0, now=time.time() + 1.0)
    heart.hold(claimed)
    heart.beat()
    assert _state(twin, run_id) == "queued"


class _FakeProc:
    def __init__(self, alive: bool) -> None:
        self.alive, self.name, self.exitcode = alive, "w", None if alive else -9

    def is_alive(self) -> bool:
        return self.alive


def test_supervisor_replaces_dead_workers_and_requeues_stale_runs(twin: Twin) -> None:
    run_id = _submit(twin)
    assert claim(twin.app.state.engine) is not None
    started: list[int] = []

    def start(i: int) -> Any:
        started.append(i)
        return _FakeProc(True)

    procs: list[Any] = [_FakeProc(True), _FakeProc(False)]
    keeper = Supervisor(twin.app.state.engine, "unused", procs, lease_timeout_s=0.0,
                        start=start)
    time.sleep(0.01)
    keeper.check()
    assert started == [1] and keeper.restarted == 1 and all(p.is_alive() for p in procs)
    assert keeper.requeued == 1 and _state(twin, run_id) == "queued"
    keeper.check()  # nothing more to do
    assert started == [1] and keeper.requeued == 1


def test_two_servers_on_one_database_share_the_queue_without_stealing(twin: Twin) -> None:
    """A second server (its own app and engine) on the same database sees the run, leaves
    the one a live worker holds alone, and runs the next one."""
    from fastapi.testclient import TestClient

    from gputwin.server.app import create_app

    other = create_app(twin.db_url)
    other_client = TestClient(other)
    first, second = _submit(twin), _submit(twin)
    held = claim(twin.app.state.engine)  # server A's worker takes the oldest
    assert held is not None and held[0] == first
    assert requeue_interrupted(other.state.engine) == 0  # B leaves it alone at start-up
    mine = claim(other.state.engine)  # B's worker takes the next
    assert mine is not None and mine[0] == second
    assert run_one(other.state.engine, *mine) == "done"
    assert run_one(twin.app.state.engine, *held) == "done"
    for run_id in (first, second):
        r = other_client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).json()
        assert r["state"] == "done" and r["attempts"] == 1
