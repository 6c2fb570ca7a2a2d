"""Builders for server tests: an app over a fresh SQLite file, tenants and clients."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gputwin.server.app import create_app
from gputwin.server.auth import create_tenant
from gputwin.server.worker import run_pending


@dataclass
class Twin:
    app: FastAPI
    client: TestClient
    keys: dict[str, str]
    db_url: str

    def as_(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    def work(self) -> int:
        """Execute every queued run in this process (what the worker processes do)."""
        return run_pending(self.app.state.engine)


def make_twin(db_url: str, **app_options: int) -> Twin:
    app = create_app(db_url, **app_options)
    keys = {}
    with app.state.sessions() as session:
        for name, role, max_runs in (("alice", "user", 3), ("bob", "user", 3),
                                     ("root", "admin", 3)):
            keys[name] = create_tenant(session, name, role=role,
                                       max_concurrent_runs=max_runs)[1]
    return Twin(app, TestClient(app), keys, db_url)


#: a small cluster scenario that runs in well under a second
SMALL = {"cluster.num_nodes": 8, "workload.synthetic.num_jobs": 20}
