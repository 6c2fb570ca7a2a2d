"""The "how it will be checked" flow against a real PostgreSQL server started here.

Skips with a reason where the ``postgres``/``initdb`` binaries or the psycopg driver are
missing. As root (containers), the server runs as the ``postgres`` user via ``runuser``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
from tests.server.builders import SMALL, make_twin

pytest.importorskip("psycopg", reason="PostgreSQL tests need the psycopg driver")


def _prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
    if shutil.which("runuser") is None:
        pytest.skip("running as root and `runuser` is missing")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    for tool in ("initdb", "pg_ctl", "postgres"):
        if shutil.which(tool) is None:
            pytest.skip(f"no `{tool}` on PATH: install PostgreSQL to run these tests")
    prefix = _prefix()
    root = tempfile.mkdtemp(prefix="gputwin-pg-")
    os.chmod(root, 0o755)
    if prefix:
        shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = [*prefix]
    subprocess.run([*run, "initdb", "-D", data, "-U", "gputwin", "-A", "trust"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*run, "pg_ctl", "-D", data, "-o", opts, "-l", f"{root}/log", "-w",
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://gputwin@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run, "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_the_flow_on_postgresql(pg_url: str) -> None:
    twin = make_twin(pg_url)
    a, b = twin.as_("alice"), twin.as_("bob")
    r = twin.client.post("/v1/runs", json={"scenario": "default", "set": SMALL}, headers=a)
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    assert twin.work() == 1
    assert twin.client.get(f"/v1/runs/{run_id}", headers=a).json()["state"] == "done"
    summary = twin.client.get(f"/v1/runs/{run_id}/summary", headers=a).json()
    assert summary["num_jobs"] == SMALL["workload.synthetic.num_jobs"]
    assert twin.client.get(f"/v1/runs/{run_id}", headers=b).status_code == 404
    bad = twin.client.post("/v1/runs", json={"set": {"cluster.num_nodes": -1}}, headers=a)
    assert bad.status_code == 422 and "cluster.num_nodes" in bad.json()["detail"]
    # idempotency and the re-queue of interrupted runs use the same SQL on PostgreSQL
    first = twin.client.post("/v1/runs", json={"set": SMALL, "idempotency_key": "k"},
                             headers=a).json()["id"]
    again = twin.client.post("/v1/runs", json={"set": SMALL, "idempotency_key": "k"},
                             headers=a).json()["id"]
    assert first == again
    twin.client.close()
    twin.app.state.engine.dispose()
