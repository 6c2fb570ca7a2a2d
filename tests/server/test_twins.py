"""Live twins over REST: create, step, run until, submit a job, fail/drain a node, metrics."""

from __future__ import annotations

from tests.server.builders import Twin

SMALL = {"cluster.num_nodes": 4, "workload.synthetic.num_jobs": 10}


def _create(twin: Twin, who: str = "alice") -> str:
    r = twin.client.post("/v1/twins", json={"scenario": "default", "set": SMALL},
                         headers=twin.as_(who))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_step_submit_and_fail_a_node(twin: Twin) -> None:
    a = twin.as_("alice")
    tid = _create(twin)
    state = twin.client.get(f"/v1/twins/{tid}", headers=a).json()
    assert state["time_s"] == 0 and state["gpus_total"] == 32 and state["gpus_allocated"] == 0
    # an idle cluster: the job we submit starts at once on 8 GPUs
    job = twin.client.post(f"/v1/twins/{tid}/jobs", json={"num_gpus": 8, "duration_s": 600},
                           headers=a)
    assert job.status_code == 201
    state = twin.client.post(f"/v1/twins/{tid}/step", json={"seconds": 1}, headers=a).json()
    assert state["time_s"] == 1 and state["gpus_allocated"] >= 8
    stopped: list[str] = []
    for node in range(4):
        r = twin.client.post(f"/v1/twins/{tid}/nodes/{node}/fail", headers=a)
        assert r.status_code == 200
        stopped += r.json()["stopped_jobs"]
    assert job.json()["job_id"] in stopped
    state = twin.client.get(f"/v1/twins/{tid}", headers=a).json()
    assert state["nodes_down"] == 4 and state["gpus_allocated"] == 0
    assert state["queue_length"] >= 1
    twin.client.post(f"/v1/twins/{tid}/nodes/0/restore", headers=a)
    later = twin.client.post(f"/v1/twins/{tid}/step", json={"time_s": 7200},
                             headers=a).json()
    assert later["time_s"] == 7200 and later["nodes_up"] == 1 and later["gpus_allocated"] > 0


def test_twins_are_private_and_validated(twin: Twin) -> None:
    tid = _create(twin)
    assert twin.client.get(f"/v1/twins/{tid}", headers=twin.as_("bob")).status_code == 404
    assert twin.client.post(f"/v1/twins/{tid}/step", json={"seconds": 5},
                            headers=twin.as_("bob")).status_code == 404
    back = twin.client.post(f"/v1/twins/{tid}/step", json={"seconds": 10},
                            headers=twin.as_("alice"))
    assert back.status_code == 200
    past = twin.client.post(f"/v1/twins/{tid}/step", json={"time_s": 1},
                            headers=twin.as_("alice"))
    assert past.status_code == 422 and "time" in past.json()["detail"]
    bad_node = twin.client.post(f"/v1/twins/{tid}/nodes/99/drain", headers=twin.as_("alice"))
    assert bad_node.status_code == 422 and "no node 99" in bad_node.json()["detail"]
    bad = twin.client.post("/v1/twins", json={"set": {"cluster.num_nodes": 0}},
                           headers=twin.as_("alice"))
    assert bad.status_code == 422 and "cluster.num_nodes" in bad.json()["detail"]


def test_twin_metrics_for_prometheus(twin: Twin) -> None:
    tid = _create(twin)
    twin.client.post(f"/v1/twins/{tid}/jobs", json={"num_gpus": 8, "duration_s": 600},
                     headers=twin.as_("alice"))
    twin.client.post(f"/v1/twins/{tid}/step", json={"seconds": 1}, headers=twin.as_("alice"))
    text = twin.client.get("/metrics", headers=twin.as_("alice")).text
    assert f'gputwin_twin_gpus_total{{twin="{tid}",tenant="alice"}} 32' in text
    assert "# TYPE gputwin_twin_gpus_allocated gauge" in text
    # the default scenario has a site: 32 GPU slots at idle or busy power
    power = float(text.split(f'gputwin_twin_gpu_power_watts{{twin="{tid}",tenant="alice"}} ')[1]
                  .split()[0])
    assert 32 * 50 < power < 32 * 1500  # W per GPU slot, node share included
    assert tid not in twin.client.get("/metrics", headers=twin.as_("bob")).text
