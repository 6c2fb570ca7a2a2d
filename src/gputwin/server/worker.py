"""Run execution outside the web process: workers claim queued runs from the database.

A worker claims a run with a conditional update (``queued`` → ``running`` with a fresh
lease token), executes it, and stores the outputs only if it still holds the lease, so a
cancelled or re-queued run is never overwritten. Progress is written at most every
``PROGRESS_EVERY_S``; each write also checks for cancellation and for the server having
gone away (a worker whose parent died stops). While it holds a lease, a worker beats
(``runs.heartbeat_at``) every ``HEARTBEAT_S`` from a thread of its own; every server
re-queues runs whose heartbeat is older than its lease timeout
(:func:`requeue_interrupted`), so a run survives its worker dying (killed, out of memory)
as well as its server, and several servers can share one database: none takes a run that
another's live worker holds. Nothing is lost: a submitted run is a row in the database
before the client hears 201.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import secrets
import threading
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
#: how often a worker holding a run says it is alive
HEARTBEAT_S = 1.0
#: a running run whose heartbeat is older than this is taken back (default of --lease-timeout)
LEASE_TIMEOUT_S = 10.0


def requeue_interrupted(engine: Engine, stale_after_s: float = LEASE_TIMEOUT_S,
                        now: float | None = None) -> int:
    """Put ``running`` runs whose worker stopped beating more than ``stale_after_s`` ago
    back in the queue (its worker or its server died); a run interrupted ``MAX_ATTEMPTS``
    times fails instead (it may be what kills the worker). Returns the runs re-queued."""
    cutoff = (now_s() if now is None else now) - stale_after_s
    stale = (Run.state == "running") & (
        Run.heartbeat_at.is_(None) | (Run.heartbeat_at <= cutoff))
    with engine.begin() as conn:
        conn.execute(update(Run).where(stale, Run.attempts >= MAX_ATTEMPTS)
                     .values(state="failed", lease=None, finished_at=now_s(),
                             error=f"interrupted {MAX_ATTEMPTS} times; not retried"))
        res = conn.execute(update(Run).where(stale)
                           .values(state="queued", lease=None, progress=0.0))
        return int(res.rowcount)


class Heartbeat:
    """Beats for the run this worker holds, from a daemon thread, while ``alive()``."""

    def __init__(self, engine: Engine, alive: Callable[[], bool],
                 every_s: float = HEARTBEAT_S) -> None:
        self._engine, self._alive, self._every_s = engine, alive, every_s
        self._held: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="gputwin-heartbeat",
                                        daemon=True)
        self._thread.start()

    def hold(self, claimed: tuple[str, str] | None) -> None:
        with self._lock:
            self._held = claimed

    def beat(self) -> None:
        with self._lock:
            held = self._held
        if held is None:
            return
        with self._engine.begin() as conn:
            conn.execute(update(Run).where(Run.id == held[0], Run.lease == held[1],
                                           Run.state == "running")
                         .values(heartbeat_at=now_s()))

    def _loop(self) -> None:
        while self._alive():
            try:
                self.beat()
            except Exception:  # the database may be briefly unavailable: try again
                log.warning("heartbeat failed", exc_info=True)
            time.sleep(self._every_s)


def claim(engine: Engine) -> tuple[str, str] | None:
    """Take the oldest queued run: ``(run id, lease)``, or ``None`` if the queue is empty."""
    for _ in range(5):  # another worker may win the race for the same row
        with engine.begin() as conn:
            run_id = conn.scalar(select(Run.id).where(Run.state == "queued")
                                 .order_by(Run.created_at).limit(1))
            if run_id is None:
                return None
            lease = secrets.token_hex(8)
            t = now_s()
            res = conn.execute(update(Run).where(Run.id == run_id, Run.state == "queued")
                               .values(state="running", lease=lease, started_at=t,
                                       heartbeat_at=t, attempts=Run.attempts + 1))
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
                               .values(progress=round(frac, 4), heartbeat_at=now_s()))
        if res.rowcount != 1:
            raise StopRun("cancelled")

    return write


Executor = Callable[..., Outputs]


def run_one(engine: Engine, run_id: str, lease: str,
            alive: Callable[[], bool] = lambda: True, executor: Executor = execute) -> str:
    """Execute a claimed run (in this process, or wherever ``executor`` sends it) and
    record its outcome; returns the final state."""
    with engine.connect() as conn:
        row = conn.execute(select(Run.kind, Run.scenario_text, Run.sets_json, Run.params_json,
                                  Run.tenant_id).where(Run.id == run_id)).one()
    try:
        out = executor(row.kind, row.scenario_text, json.loads(row.sets_json),
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


def worker_main(db_url: str, parent_pid: int, poll_s: float = 0.2,
                ray_address: str | None = None) -> None:
    """A worker process: claim and run (here, or as Ray tasks on ``ray_address``) until
    the parent (the server) is gone."""
    from gputwin.server.db import make_engine

    engine = make_engine(db_url)
    executor: Executor = execute
    if ray_address is not None:
        from gputwin.server.ray_exec import ray_executor

        executor = ray_executor(ray_address)

    def alive() -> bool:
        return os.getppid() == parent_pid

    heart = Heartbeat(engine, alive)
    while alive():
        claimed = claim(engine)
        if claimed is None:
            time.sleep(poll_s)
            continue
        heart.hold(claimed)
        try:
            run_one(engine, *claimed, alive=alive, executor=executor)
        finally:
            heart.hold(None)


def _start_worker(db_url: str, index: int, method: str,
                  ray_address: str | None = None) -> BaseProcess:
    ctx: Any = multiprocessing.get_context(method)
    proc: BaseProcess = ctx.Process(target=worker_main,
                                    args=(db_url, os.getpid(), 0.2, ray_address),
                                    name=f"gputwin-worker-{index}", daemon=True)
    proc.start()
    return proc


def start_workers(db_url: str, count: int, ray_address: str | None = None
                  ) -> list[BaseProcess]:
    """Start ``count`` worker processes. Forked where the platform can (before the web
    server starts any thread; each worker opens its own engine), else spawned."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return [_start_worker(db_url, i, method, ray_address) for i in range(count)]


class Supervisor:
    """The server's keeper of runs and workers: every ``every_s`` it re-queues runs whose
    worker stopped beating (:func:`requeue_interrupted`) and replaces worker processes that
    died (spawned: the server has threads by then, so no fork)."""

    def __init__(self, engine: Engine, db_url: str, procs: list[BaseProcess], *,
                 lease_timeout_s: float = LEASE_TIMEOUT_S, every_s: float = HEARTBEAT_S,
                 ray_address: str | None = None,
                 start: Callable[[int], BaseProcess] | None = None) -> None:
        self.engine, self.procs = engine, procs
        self.lease_timeout_s, self.every_s = lease_timeout_s, every_s
        self._start = start or (lambda i: _start_worker(db_url, i, "spawn", ray_address))
        self._stop = threading.Event()
        self.requeued = self.restarted = 0

    def check(self) -> None:
        """One round: re-queue stale runs, restart dead workers."""
        self.requeued += requeue_interrupted(self.engine, self.lease_timeout_s)
        for i, proc in enumerate(self.procs):
            if not proc.is_alive():
                log.warning("worker %s exited (code %s); starting a new one", proc.name,
                            proc.exitcode)
                self.procs[i] = self._start(i)
                self.restarted += 1

    def run_in_background(self) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(self.every_s):
                try:
                    self.check()
                except Exception:
                    log.warning("supervisor round failed", exc_info=True)

        thread = threading.Thread(target=loop, name="gputwin-supervisor", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
