"""Runs through the REST API: submit, execute, read results, cancel, idempotency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.server.builders import SMALL, Twin


def _submit(twin: Twin, who: str = "alice", **body: object) -> str:
    r = twin.client.post("/v1/runs", json={"scenario": "default", "set": SMALL, **body},
                         headers=twin.as_(who))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_default_run_completes_with_the_cli_summary(twin: Twin, tmp_path: Path) -> None:
    run_id = _submit(twin)
    assert twin.client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).json()["state"] \
        == "queued"
    assert twin.work() == 1
    run = twin.client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).json()
    assert run["state"] == "done" and run["progress"] == 1.0
    summary = twin.client.get(f"/v1/runs/{run_id}/summary", headers=twin.as_("alice")).json()
    sets = [f"--set={k}={v}" for k, v in SMALL.items()]
    cli = subprocess.run([sys.executable, "-c", "from gputwin.cli.main import main; main()",
                          "simulate", "default", *sets, "--json",
                          "--out", str(tmp_path / "cli-out")],
                         capture_output=True, text=True, check=True)
    expected = json.loads(cli.stdout)
    # everything but the wall-clock time the simulation took
    summary.pop("wall_time_s")
    expected.pop("wall_time_s")
    assert summary == expected


def test_report_and_jobs(twin: Twin) -> None:
    run_id = _submit(twin)
    twin.work()
    report = twin.client.get(f"/v1/runs/{run_id}/report", headers=twin.as_("alice"))
    assert report.status_code == 200 and "<html" in report.text.lower()
    # plotly.js is served once by the server, not stored in every report
    assert '<script src="/ui/plotly.js"></script>' in report.text
    assert len(report.text) < 1_000_000
    jobs = twin.client.get(f"/v1/runs/{run_id}/jobs", headers=twin.as_("alice"))
    assert jobs.headers["content-type"].startswith("text/csv")
    lines = jobs.text.strip().splitlines()
    assert lines[0].startswith("job_id,") and len(lines) == 1 + SMALL["workload.synthetic.num_jobs"]


def test_results_of_an_unfinished_run_are_409(twin: Twin) -> None:
    run_id = _submit(twin)
    r = twin.client.get(f"/v1/runs/{run_id}/summary", headers=twin.as_("alice"))
    assert r.status_code == 409 and "queued" in r.json()["detail"]


def test_cancel_a_queued_run(twin: Twin) -> None:
    run_id = _submit(twin)
    r = twin.client.delete(f"/v1/runs/{run_id}", headers=twin.as_("alice"))
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert twin.work() == 0
    # an ended run: DELETE removes it
    again = twin.client.delete(f"/v1/runs/{run_id}", headers=twin.as_("alice"))
    assert again.status_code == 200
    assert twin.client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).status_code == 404


def test_deleting_a_finished_run_frees_its_stored_bytes(tmp_path: Path) -> None:
    from tests.server.builders import make_twin

    twin = make_twin(f"sqlite:///{tmp_path / 'q.db'}")
    with twin.app.state.sessions() as s:
        from gputwin.server.models import Tenant

        tenant = s.query(Tenant).filter_by(name="alice").one()
        tenant.max_stored_bytes = 1000
        s.commit()
    run_id = _submit(twin)
    twin.work()
    full = twin.client.post("/v1/runs", json={"set": SMALL}, headers=twin.as_("alice"))
    assert full.status_code == 507 and "stored" in full.json()["detail"]
    assert twin.client.delete(f"/v1/runs/{run_id}", headers=twin.as_("alice")).status_code \
        == 200
    _submit(twin)


def test_idempotency_key_returns_the_first_run(twin: Twin) -> None:
    first = _submit(twin, idempotency_key="nightly-42")
    second = _submit(twin, idempotency_key="nightly-42")
    other = _submit(twin, idempotency_key="nightly-43")
    assert first == second != other
    # the key is per tenant: bob's run with the same key is his own
    assert _submit(twin, "bob", idempotency_key="nightly-42") != first


def test_quota_on_concurrent_runs(twin: Twin) -> None:
    for _ in range(3):
        _submit(twin)
    r = twin.client.post("/v1/runs", json={"scenario": "default"}, headers=twin.as_("alice"))
    assert r.status_code == 429 and "limit is 3" in r.json()["detail"]
    _submit(twin, "bob")  # another tenant's quota is separate


def test_bad_scenario_is_422_naming_field_and_line(twin: Twin) -> None:
    text = Path("src/gputwin/scenarios/default.yaml").read_text().replace(
        "num_nodes: 32", "num_nodes: -4")
    r = twin.client.post("/v1/runs", json={"scenario": text}, headers=twin.as_("alice"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "cluster.num_nodes" in detail and "scenario.yaml:11" in detail, detail
    bad_set = twin.client.post("/v1/runs", json={"set": {"cluster.num_nodes": 0}},
                               headers=twin.as_("alice"))
    assert bad_set.status_code == 422 and "cluster.num_nodes" in bad_set.json()["detail"]


def test_unknown_scenario_name_is_404(twin: Twin) -> None:
    r = twin.client.post("/v1/runs", json={"scenario": "no-such"}, headers=twin.as_("alice"))
    assert r.status_code == 404 and "no-such" in r.json()["detail"]


def test_estimate_train_run(twin: Twin) -> None:
    params = {"model": "llama3-8b", "gpu": "h100-sxm-80gb", "num_gpus": 8,
              "global_batch_tokens": 1e6, "layout": {"tp": 4}}
    r = twin.client.post("/v1/runs", json={"kind": "estimate-train", "params": params},
                         headers=twin.as_("alice"))
    assert r.status_code == 201, r.text
    twin.work()
    summary = twin.client.get(f"/v1/runs/{r.json()['id']}/summary", headers=twin.as_("alice"))
    assert summary.json()["step_time_s"] > 0
    bad = twin.client.post("/v1/runs", json={"kind": "estimate-train",
                                             "params": {**params, "num_gpus": -1}},
                           headers=twin.as_("alice"))
    assert bad.status_code == 422 and "params.num_gpus" in bad.json()["detail"]


def test_serving_run(twin: Twin) -> None:
    r = twin.client.post("/v1/runs", json={"kind": "serve"}, headers=twin.as_("alice"))
    assert r.status_code == 201, r.text
    twin.work()
    run = twin.client.get(f"/v1/runs/{r.json()['id']}", headers=twin.as_("alice")).json()
    assert run["state"] == "done", run
    jobs = twin.client.get(f"/v1/runs/{r.json()['id']}/jobs", headers=twin.as_("alice"))
    assert jobs.status_code == 200 and len(jobs.text.splitlines()) > 1


def test_compare_two_runs(twin: Twin) -> None:
    a = _submit(twin)
    b = _submit(twin, set={**SMALL, "scheduler.profile": "backfill-easy"})
    twin.work()
    r = twin.client.get(f"/v1/compare?runs={a},{b}", headers=twin.as_("alice"))
    assert r.status_code == 200, r.text
    rows = {m["key"]: m for m in r.json()["metrics"]}
    assert rows["jct_mean_s"]["change_frac"][0] == 0.0
    one = twin.client.get(f"/v1/compare?runs={a}", headers=twin.as_("alice"))
    assert one.status_code == 422


def test_progress_events_end_with_the_final_state(twin: Twin) -> None:
    run_id = _submit(twin)
    twin.work()
    with twin.client.stream("GET", f"/v1/runs/{run_id}/events",
                            headers=twin.as_("alice")) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == {"state": "done", "progress": 1.0}
