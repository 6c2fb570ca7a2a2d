"""Authorisation, tenant isolation, limits and malformed input."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.server.builders import SMALL, Twin, make_twin


def _alice_run(twin: Twin) -> str:
    r = twin.client.post("/v1/runs", json={"set": SMALL}, headers=twin.as_("alice"))
    assert r.status_code == 201
    return str(r.json()["id"])


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer gtw_not-a-key"}, {"Authorization": "Basic abc"},
    {"Authorization": "Bearer"},
])
def test_requests_without_a_valid_key_are_401(twin: Twin, headers: dict[str, str]) -> None:
    r = twin.client.get("/v1/runs", headers=headers)
    assert r.status_code == 401 and "API key" in r.json()["detail"]


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("GET", "/summary"), ("GET", "/report"), ("GET", "/jobs"),
    ("GET", "/events"), ("DELETE", ""),
])
def test_another_tenants_run_is_404(twin: Twin, method: str, suffix: str) -> None:
    run_id = _alice_run(twin)
    twin.work()
    r = twin.client.request(method, f"/v1/runs/{run_id}{suffix}", headers=twin.as_("bob"))
    assert r.status_code == 404, r.text
    # the same answer as for an id that does not exist: nothing to learn from guessing
    guess = twin.client.request(method, f"/v1/runs/run_0000000000000000{suffix}",
                                headers=twin.as_("bob"))
    assert guess.status_code == 404
    assert twin.client.get(f"/v1/runs/{run_id}", headers=twin.as_("alice")).json()["state"] \
        == "done"


def test_lists_and_compare_show_only_own_runs(twin: Twin) -> None:
    mine = _alice_run(twin)
    twin.work()
    assert twin.client.get("/v1/runs", headers=twin.as_("bob")).json() == []
    assert [r["id"] for r in twin.client.get("/v1/runs", headers=twin.as_("alice")).json()] \
        == [mine]
    r = twin.client.get(f"/v1/compare?runs={mine},{mine}", headers=twin.as_("bob"))
    assert r.status_code == 404


def test_a_run_list_filter_names_a_state_that_exists(twin: Twin) -> None:
    """An unknown ``state`` is a 422 naming the query field, not an empty list that reads
    as 'no runs'."""
    mine = _alice_run(twin)
    twin.work()
    done = twin.client.get("/v1/runs?state=done", headers=twin.as_("alice"))
    assert [r["id"] for r in done.json()] == [mine]
    r = twin.client.get("/v1/runs?state=nope", headers=twin.as_("alice"))
    assert r.status_code == 422 and "state" in r.text


def test_another_tenants_scenario_cannot_be_read_or_run(twin: Twin) -> None:
    r = twin.client.post("/v1/scenarios", json={"name": "mine", "yaml": "name: x\n"},
                         headers=twin.as_("alice"))
    assert r.status_code == 422  # not a valid scenario
    text = Path("src/gputwin/scenarios/default.yaml").read_text()
    r = twin.client.post("/v1/scenarios", json={"name": "mine", "yaml": text},
                         headers=twin.as_("alice"))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert twin.client.get(f"/v1/scenarios/{sid}", headers=twin.as_("bob")).status_code == 404
    run = twin.client.post("/v1/runs", json={"scenario": sid}, headers=twin.as_("bob"))
    assert run.status_code == 404
    own = twin.client.post("/v1/runs", json={"scenario": sid, "set": SMALL},
                           headers=twin.as_("alice"))
    assert own.status_code == 201
    assert twin.client.get(f"/v1/scenarios/{sid}", headers=twin.as_("alice")).json()["yaml"] \
        == text


def test_admin_role(twin: Twin) -> None:
    assert twin.client.get("/v1/tenants", headers=twin.as_("alice")).status_code == 403
    names = [t["name"] for t in twin.client.get("/v1/tenants", headers=twin.as_("root")).json()]
    assert names == ["alice", "bob", "root"]
    assert all("key" not in str(t).lower() or t["api_key"] is None
               for t in twin.client.get("/v1/tenants", headers=twin.as_("root")).json())
    r = twin.client.post("/v1/tenants", json={"name": "carol"}, headers=twin.as_("root"))
    assert r.status_code == 201
    key = r.json()["api_key"]
    assert twin.client.get("/v1/runs", headers={"Authorization": f"Bearer {key}"}) \
        .status_code == 200
    dup = twin.client.post("/v1/tenants", json={"name": "carol"}, headers=twin.as_("root"))
    assert dup.status_code == 422 and "exists" in dup.json()["detail"]


def test_oversized_body_is_413(tmp_path: object) -> None:
    twin = make_twin(f"sqlite:///{tmp_path}/small.db", max_body_bytes=1000)
    big = {"scenario": "default", "set": {"name": "x" * 2000}}
    r = twin.client.post("/v1/runs", json=big, headers=twin.as_("alice"))
    assert r.status_code == 413 and "1000 bytes" in r.json()["detail"]

    def chunks() -> object:
        yield b'{"scenario": "'
        yield b"x" * 2000
        yield b'"}'

    streamed = twin.client.post("/v1/runs", content=chunks(),  # type: ignore[arg-type]
                                headers={**twin.as_("alice"),
                                         "Content-Type": "application/json"})
    assert streamed.status_code == 413


@pytest.mark.parametrize(("body", "status", "phrase"), [
    (b"{not json", 422, "JSON"),
    (b"[1, 2]", 422, "dict"),
    (b'{"kind": "train"}', 422, "kind"),
    (b'{"scenario": 5}', 422, "scenario"),
    (b'{"bogus": 1}', 422, "bogus"),
    (b'{"set": {"cluster.nodes": 3}}', 422, "nodes"),
])
def test_malformed_bodies_are_4xx_with_a_clear_message(twin: Twin, body: bytes, status: int,
                                                       phrase: str) -> None:
    r = twin.client.post("/v1/runs", content=body,
                         headers={**twin.as_("alice"), "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert phrase.lower() in r.text.lower()


def test_no_key_in_any_log_line(twin: Twin, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _alice_run(twin)
    twin.work()
    twin.client.get("/v1/runs", headers=twin.as_("alice"))
    twin.client.get("/v1/runs", headers={"Authorization": "Bearer gtw_wrong"})
    for key in twin.keys.values():
        assert key not in caplog.text


def test_keys_are_stored_hashed(twin: Twin) -> None:
    from sqlalchemy import text

    with twin.app.state.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.execute(text("SELECT * FROM tenants")))
    assert all(key not in dump for key in twin.keys.values())


def test_metrics_are_prometheus_text_scoped_to_the_tenant(twin: Twin) -> None:
    _alice_run(twin)
    twin.work()
    _alice_run(twin)
    r = twin.client.get("/metrics", headers=twin.as_("alice"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'gputwin_runs{tenant="alice",state="done"} 1' in r.text
    assert 'gputwin_runs{tenant="alice",state="queued"} 1' in r.text
    assert "bob" not in r.text
    everyone = twin.client.get("/metrics", headers=twin.as_("root")).text
    assert 'gputwin_runs{tenant="bob",state="queued"} 0' in everyone
    assert twin.client.get("/metrics").status_code == 401


_DEFAULT = Path("src/gputwin/scenarios/default.yaml").read_text()


@pytest.mark.parametrize(("body", "where"), [
    ({"scenario": "catalog: /etc/passwd\n" + _DEFAULT}, "catalog"),
    ({"set": {"catalog": "/etc/hostname"}}, "catalog"),
    ({"set": {"site": {"region": "GB", "grid_data": "/etc"}}}, "site.grid_data"),
    ({"set": {"workload.synthetic.templates":
              "[{model: /etc/hostname, num_gpus: 8, duration: 1h}]"}},
     "workload.synthetic.templates.0.model"),
    ({"kind": "estimate-train", "params": {"model": "/etc/passwd", "gpu": "h100-sxm-80gb",
                                           "num_gpus": 8, "global_batch_size": 64}},
     "params.model"),
])
def test_a_scenario_cannot_make_the_server_read_its_files(twin: Twin, body: dict[str, object],
                                                          where: str) -> None:
    """The server reads trace files only from its data folder; catalog files, config.json
    paths and grid folders named by a tenant used to be read from anywhere."""
    r = twin.client.post("/v1/runs", json=body, headers=twin.as_("alice"))
    assert r.status_code == 422, r.text
    assert where in r.json()["detail"] and "/etc" not in r.json()["detail"]


def test_serve_kind_needs_a_serving_scenario_at_submit(twin: Twin) -> None:
    """Used to be accepted (201) and fail later in the worker."""
    r = twin.client.post("/v1/runs", json={"kind": "serve", "scenario": "default"},
                         headers=twin.as_("alice"))
    assert r.status_code == 422 and "serving scenario" in r.json()["detail"]


def test_a_trace_option_path_outside_the_data_folder_is_refused(
        twin: Twin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An openb node_list (or pai2020 job_table) option was opened wherever it pointed.
    The example's own trace file is given in a data folder of the test's (the shared data
    may be absent), so the refusal is the option's."""
    pods = tmp_path / "traces" / "alibaba-gpu-v2023" / "openb_pod_list_default.csv"
    pods.parent.mkdir(parents=True)
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
                    "creation_time,deletion_time,scheduled_time\n")
    monkeypatch.setenv("GPUTWIN_DATA_DIR", str(tmp_path))
    text = Path("examples/openb-fgd.yaml").read_text().replace(
        "options: {node_list: openb_node_list_all_node.csv}",
        "options: {node_list: /etc/passwd}")
    assert "/etc/passwd" in text
    r = twin.client.post("/v1/runs", json={"scenario": text}, headers=twin.as_("alice"))
    assert r.status_code == 422, r.text
    assert "workload.trace.options.node_list" in r.json()["detail"]


def test_a_length_trace_outside_the_data_folder_is_refused(twin: Twin, tmp_path: Path) -> None:
    """A synthetic source's `lengths:` trace was not held to the data folder."""
    outside = tmp_path / "lengths.csv"
    outside.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                       "2023-11-16 18:17:03.9799600,100,10\n")
    text = Path("src/gputwin/scenarios/serve-default.yaml").read_text()
    import yaml

    data = yaml.safe_load(text)
    source = data["serving"]["workload"][0]
    for key in ("prompt", "output"):
        source.pop(key, None)
    source["lengths"] = {"format": "azure", "path": str(outside)}
    r = twin.client.post("/v1/runs", json={"kind": "serve", "scenario": data},
                         headers=twin.as_("alice"))
    assert r.status_code == 422, r.text
    assert "serving.workload.0.lengths.path" in r.json()["detail"]
