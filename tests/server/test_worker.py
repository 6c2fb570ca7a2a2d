"""Claiming, leases, cancellation of a running run and re-queueing after a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.server.builders import SMALL, Twin

from gputwin.server.models import Run
from gputwin.server.worker import StopRun, _progress_writer, claim, requeue_interrupted, run_one


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
    # the server dies here; at the next start-up:
    assert requeue_interrupted(twin.app.state.engine) == 1
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
        requeue_interrupted(twin.app.state.engine)
    assert _state(twin, run_id) == "failed"
    run = twin.client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).json()
    assert "interrupted 3 times" in run["error"]
