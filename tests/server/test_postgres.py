"""The "how it will be checked" flow against a real PostgreSQL server started here.

The server comes from the ``pg_url`` fixture (tests/server/pg.py), which skips with a
reason where the ``postgres``/``initdb`` binaries or the psycopg driver are missing. The
``kill -9`` flow on PostgreSQL is in test_restart.py.
"""

from __future__ import annotations

from tests.server.builders import SMALL, make_twin


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
