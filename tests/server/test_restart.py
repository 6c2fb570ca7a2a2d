"""A real server process: ``kill -9`` during a run, restart, the run completes intact."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-c", "from gputwin.cli.main import main; main()"]
#: long enough (a few seconds) to be caught running
LONG = {"workload.synthetic.num_jobs": 2000, "horizon": "80d"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def _start(db_url: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*CLI, "server", "--port", str(port), "--db", db_url,
                             "--workers", "1", *extra], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("the server did not start within 30 s")


def _wait_for(client: httpx.Client, run_id: str, states: set[str], limit_s: float) -> str:
    deadline = time.monotonic() + limit_s
    state = ""
    while time.monotonic() < deadline:
        state = client.get(f"/v1/runs/{run_id}").json()["state"]
        if state in states:
            return str(state)
        time.sleep(0.05)
    pytest.fail(f"run stayed {state!r} for {limit_s} s")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_9_during_a_run_and_restart(tmp_path: Path, database: str,
                                         request: pytest.FixtureRequest) -> None:
    db_url = (f"sqlite:///{tmp_path / 'twin.db'}" if database == "sqlite"
              else request.getfixturevalue("pg_url"))
    out = subprocess.run([*CLI, "server", "add-tenant", "alice", "--db", db_url],
                         env=_env(), capture_output=True, text=True, check=True)
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("gtw_") and key not in out.stderr
    port = _free_port()
    headers = {"Authorization": f"Bearer {key}"}
    server = _start(db_url, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            run_id = client.post("/v1/runs", json={"set": LONG}).json()["id"]
            assert _wait_for(client, run_id, {"running", "done"}, 30) == "running"
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        server = _start(db_url, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            assert _wait_for(client, run_id, {"done", "failed"}, 60) == "done"
            run = client.get(f"/v1/runs/{run_id}").json()
            summary = client.get(f"/v1/runs/{run_id}/summary").json()
            jobs = client.get(f"/v1/runs/{run_id}/jobs").text
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert run["attempts"] == 2, run  # it was interrupted once and finished on the restart
    assert summary["num_jobs"] == 2000
    assert len(jobs.strip().splitlines()) == 2001


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.is_file() else []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_kill_9_of_a_worker_while_the_server_lives(tmp_path: Path) -> None:
    """The server keeps running; its worker dies mid-run: the supervisor starts a new worker
    and re-queues the run once its heartbeat is older than the lease timeout."""
    db_url = f"sqlite:///{tmp_path / 'twin.db'}"
    out = subprocess.run([*CLI, "server", "add-tenant", "alice", "--db", db_url],
                         env=_env(), capture_output=True, text=True, check=True)
    headers = {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}
    port = _free_port()
    server = _start(db_url, port, "--lease-timeout", "2")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            run_id = client.post("/v1/runs", json={"set": LONG}).json()["id"]
            assert _wait_for(client, run_id, {"running", "done"}, 30) == "running"
            workers = _children(server.pid)
            assert workers, "the server has no worker process"
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            assert _wait_for(client, run_id, {"done", "failed"}, 90) == "done"
            run = client.get(f"/v1/runs/{run_id}").json()
            summary = client.get(f"/v1/runs/{run_id}/summary").json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert run["attempts"] == 2, run
    assert summary["num_jobs"] == 2000
