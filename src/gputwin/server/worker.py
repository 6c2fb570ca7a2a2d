"""Run execution outside the web process: workers claim queued runs from the database.

A worker claims a run with a conditional update (``queued`` → ``running`` with a fresh
lease token), executes it, and stores the outputs only if it still holds the lease, so a
cancelled or re-queued run is never overwritten. Progress is written at most every
``PROGRESS_EVERY_S``; each write also checks for cancellation and for the server having
gone away (a worker whose parent died stops, leaving the run ``running`` for
:func:`requeue_interrupted` at the next start-up). Nothing is lost: a submitted run is a
row in the database before the client hears 201.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import secrets
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import Engine, insert, select, update

from gputwin.errors import InputError
from gputwin.server.execute import Outputs, execute
from gputwin.server.models import Run, RunResult, now_s

log = logging.getLogger("gputwin.server.worker")
PROGRESS_EVERY_S = 0.25


class StopRun(Exception):
    """The run was cancelled or re-leased, or the server went away: stop quietly."""


MAX_ATTEMPTS = 3


def requeue_interrupted(engine: Engine) -> int:
    """Put runs left ``running`` by a server that died back in the queue (at start-up);
    a run interrupted ``MAX_ATTEMPTS`` times fails instead (it may be what kills us)."""
    with engine.begin() as conn:
        conn.execute(update(Run).where(Run.state == "running",
                                       Run.attempts >= MAX_ATTEMPTS)
                     .values(state="failed", lease=None, finished_at=now_s(),
                             error=f"interrupted {MAX_ATTEMPTS} times; not retried"))
        res = conn.execute(update(Run).where(Run.state == "running")
                           .values(state="queued", lease=None, progress=0.0))
        return int(res.rowcount)


def claim(engine: Engine) -> tuple[str, str] | None:
    """Take the oldest queued run: ``(run id, lease)``, or ``None`` if the queue is empty."""
    for _ in range(5):  # another worker may win the race for the same row
        with engine.begin() as conn:
            run_id = conn.scalar(select(Run.id).where(Run.state == "queued")
                                 .order_by(Run.created_at).limit(1))
            if run_id is None:
                return None
            lease = secrets.token_hex(8)
            res = conn.execute(update(Run).where(Run.id == run_id, Run.state == "queued")
                               .values(state="running", lease=lease, started_at=now_s(),
                                       attempts=Run.attempts + 1))
            if res.rowcount == 1:
                return run_id, lease
    return None


def _progress_writer(engine: Engine, run_id: str, lease: str,
                     alive: Callable[[], bool]) -> Callable[[float], None]:
    last = [0.0]

    def write(frac: float) -> None:
        if time.monotonic() - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = time.monotonic()
        if not alive():
            raise StopRun("server gone")
        with engine.begin() as conn:
            res = conn.execute(update(Run).where(Run.id == run_id, Run.lease == lease,
                                                 Run.state == "running")
                               .values(progress=round(frac, 4)))
        if res.rowcount != 1:
            raise StopRun("cancelled")

    return write


def run_one(engine: Engine, run_id: str, lease: str,
            alive: Callable[[], bool] = lambda: True) -> str:
    """Execute a claimed run and record its outcome; returns the final state."""
    with engine.connect() as conn:
        row = conn.execute(select(Run.kind, Run.scenario_text, Run.sets_json, Run.params_json,
                                  Run.tenant_id).where(Run.id == run_id)).one()
    try:
        out = execute(row.kind, row.scenario_text, json.loads(row.sets_json),
                      json.loads(row.params_json),
                      _progress_writer(engine, run_id, lease, alive))
    except StopRun:
        return "stopped"
    except InputError as exc:
        return _finish(engine, run_id, lease, "failed", str(exc))
    except Exception as exc:  # a bug in gputwin: record it, keep the worker alive
        log.exception("run %s failed", run_id)
        return _finish(engine, run_id, lease, "failed", f"internal error: {type(exc).__name__}")
    return _finish(engine, run_id, lease, "done", None, out, row.tenant_id)


def _finish(engine: Engine, run_id: str, lease: str, state: str, error: str | None,
            out: Outputs | None = None, tenant_id: str = "") -> str:
    with engine.begin() as conn:
        res = conn.execute(update(Run).where(Run.id == run_id, Run.lease == lease,
                                             Run.state == "running")
                           .values(state=state, error=error, finished_at=now_s(),
                                   progress=1.0 if state == "done" else Run.progress))
        if res.rowcount != 1:
            return "stopped"
        if out is not None:
            conn.execute(insert(RunResult).values(
                run_id=run_id, tenant_id=tenant_id, summary_json=out.summary_json,
                report_html=out.report_html, jobs_csv=out.jobs_csv,
                stored_bytes=out.size_bytes))
    return state


def run_pending(engine: Engine, limit: int | None = None) -> int:
    """Execute queued runs in this process until the queue is empty (tests, one-shot use)."""
    done = 0
    while limit is None or done < limit:
        claimed = claim(engine)
        if claimed is None:
            break
        run_one(engine, *claimed)
        done += 1
    return done


def worker_main(db_url: str, parent_pid: int, poll_s: float = 0.2) -> None:
    """A worker process: claim and run until the parent (the server) is gone."""
    from gputwin.server.db import make_engine

    engine = make_engine(db_url)

    def alive() -> bool:
        return os.getppid() == parent_pid

    while alive():
        claimed = claim(engine)
        if claimed is None:
            time.sleep(poll_s)
            continue
        run_one(engine, *claimed, alive=alive)


def start_workers(db_url: str, count: int) -> list[BaseProcess]:
    """Start ``count`` worker processes. Forked where the platform can (before the web
    server starts any thread; each worker opens its own engine), else spawned."""
    fork = "fork" in multiprocessing.get_all_start_methods()
    ctx: Any = multiprocessing.get_context("fork" if fork else "spawn")
    procs: list[BaseProcess] = []
    for i in range(count):
        proc = ctx.Process(target=worker_main, args=(db_url, os.getpid()),
                           name=f"gputwin-worker-{i}", daemon=True)
        proc.start()
        procs.append(proc)
    return procs
