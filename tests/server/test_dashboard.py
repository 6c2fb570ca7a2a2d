"""The dashboard pages, fetched and checked (no browser; see test_browser.py for Chromium)."""

from __future__ import annotations

import re

from tests.server.builders import Twin


def _sign_in(twin: Twin, who: str = "alice") -> None:
    r = twin.client.post("/ui/login", data={"key": twin.keys[who]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/runs"
    assert "httponly" in r.headers["set-cookie"].lower()


def _submit(twin: Twin, sets: str) -> str:
    r = twin.client.post("/ui/runs", data={"scenario": "default", "set": sets},
                         follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


SETS = "cluster.num_nodes=8\nworkload.synthetic.num_jobs=20"


def test_pages_need_a_key(twin: Twin) -> None:
    for path in ("/ui/runs", "/ui/runs/run_x", "/ui/compare?runs=a,b"):
        r = twin.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    bad = twin.client.post("/ui/login", data={"key": "gtw_wrong"}, follow_redirects=False)
    assert "error" in bad.headers["location"]


def test_submit_from_the_page_then_run_and_compare_pages(twin: Twin) -> None:
    _sign_in(twin)
    run_id = _submit(twin, SETS)
    page = twin.client.get(f"/ui/runs/{run_id}").text
    assert "queued" in page and "EventSource" in page
    other = _submit(twin, SETS + "\nscheduler.profile=backfill-easy")
    twin.work()
    page = twin.client.get(f"/ui/runs/{run_id}").text
    assert "done" in page and f"/v1/runs/{run_id}/report" in page
    # the iframe's report is reachable with the cookie alone
    assert "<html" in twin.client.get(f"/v1/runs/{run_id}/report").text.lower()
    listing = twin.client.get("/ui/runs").text
    assert run_id in listing and other in listing and "20 jobs" in listing
    compare = twin.client.get(f"/ui/compare?runs={run_id},{other}").text
    assert "JCT mean" in compare and "Plotly.newPlot" in compare
    assert re.search(r"<script src='/ui/plotly.js'>", compare)
    assert twin.client.get("/ui/plotly.js").text.startswith("/**")


def test_a_bad_override_from_the_page_is_explained(twin: Twin) -> None:
    _sign_in(twin)
    r = twin.client.post("/ui/runs", data={"scenario": "default", "set": "cluster.num_nodes=-3"})
    assert r.status_code == 200 and "cluster.num_nodes" in r.text


def test_an_override_line_without_equals_is_explained(twin: Twin) -> None:
    """Such a line was dropped without a word and the run went ahead without it."""
    _sign_in(twin)
    r = twin.client.post("/ui/runs", data={"scenario": "default",
                                           "set": "seed=3\ncluster.num_nodes 4"},
                         follow_redirects=False)
    assert r.status_code == 200 and "run not submitted" in r.text
    assert "expected KEY=VALUE" in r.text and "cluster.num_nodes 4" in r.text


def test_another_tenants_run_page_is_404(twin: Twin) -> None:
    _sign_in(twin)
    run_id = _submit(twin, SETS)
    twin.client.cookies.clear()
    _sign_in(twin, "bob")
    assert twin.client.get(f"/ui/runs/{run_id}").status_code == 404
    assert run_id not in twin.client.get("/ui/runs").text


def test_twin_pages(twin: Twin) -> None:
    _sign_in(twin)
    assert "new twin" in twin.client.get("/ui/twins").text
    tid = twin.client.post("/v1/twins", json={"set": {"cluster.num_nodes": 4}}).json()["id"]
    assert tid in twin.client.get("/ui/twins").text
    assert f"/v1/twins/{tid}" in twin.client.get(f"/ui/twins/{tid}").text
    twin.client.cookies.clear()
    _sign_in(twin, "bob")
    assert twin.client.get(f"/ui/twins/{tid}").status_code == 404
