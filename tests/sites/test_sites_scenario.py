"""Geo-distributed serving scenarios: validation errors (file, line, key), routing,
placement, accounting invariants and the edge-vs-core example."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gputwin.cli.main import main
from gputwin.errors import InputError
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import load_serving_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "edge-vs-core.yaml"

BASE = """\
name: geo-test
seed: 1
sites:
  - name: core
    kind: core
    location: aws/us-east-1
    gpus: {h100-sxm-80gb: 8}
  - name: edge
    kind: edge
    location: metro/dallas
    gpus: {l40s: 4}
    backhaul: {bandwidth: 10Gbps, price_per_gb: 0.02}
users:
  - {name: dallas, location: metro/dallas, share: 1.0, access: 5g}
placement: {policy: PLACEMENT}
routing: {policy: ROUTING}
serving:
  services:
    - {name: big, endpoint: chat, model: llama3.1-8b, gpu: h100-sxm-80gb, sites: {core: 1}}
    - {name: small, endpoint: chat, model: llama3.1-8b, gpu: l40s, weights_dtype: fp8,
       sites: {edge: 1}}
  workload:
    - kind: synthetic
      service: chat
      num_requests: NUM
      arrival: {process: poisson, rate: RATE}
      prompt: {dist: fixed, value: 300}
      output: {dist: fixed, value: 40}
"""


def _write(tmp_path: Path, text: str, **subs: object) -> Path:
    values = {"PLACEMENT": "as-declared", "ROUTING": "latency", "NUM": 200, "RATE": 4}
    values.update(subs)
    for k, v in values.items():
        text = text.replace(k, str(v))
    p = tmp_path / "geo.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("old", "new", "line", "key"), [
    ("location: aws/us-east-1", "location: aws/us-east-9", 6, "sites[0].location"),
    ("gpus: {l40s: 4}", "gpus: {l40s: -4}", 11, "sites[1].gpus.l40s"),
    ("location: metro/dallas, share", "location: metro/london, share", 14, "users[0]"),
    ("sites: {core: 1}", "sites: {core: 9}", 19, "serving.services[0].sites.core"),
    ("sites: {edge: 1}", "sites: {edgy: 1}", 21, "serving.services[1].sites.edgy"),
])
def test_bad_site_specs_name_file_line_and_key(tmp_path: Path, old: str, new: str,
                                                line: int, key: str) -> None:
    text = BASE.replace(old, new)
    if "london" in new:  # a population nobody can reach: the core serves only 1,000 km
        text = text.replace("kind: core\n", "kind: core\n    radius_km: 1000\n", 1)
        line += 1
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        load_serving_scenario(p)
    assert f"{p}:{line}" in str(exc.value) and key in str(exc.value)


def test_cli_exits_2_on_an_unreachable_population(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace("share: 1.0, access: 5g}", "share: 1.0, access: 5g, max_rtt: 5ms}")
    p = _write(tmp_path, text)
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(p), "--json"])
    assert exc.value.code == 2
    assert "users[0]" in capsys.readouterr().err


def test_sites_need_users(tmp_path: Path) -> None:
    text = BASE.replace("users:\n  - {name: dallas, location: metro/dallas, share: 1.0, "
                        "access: 5g}\n", "")
    with pytest.raises(InputError, match="users"):
        load_serving_scenario(_write(tmp_path, text))


def _run(tmp_path: Path, **subs: object) -> dict:
    sc = load_serving_scenario(_write(tmp_path, BASE, **subs))
    return simulate_serving(sc).summary


def test_no_request_is_lost_and_edge_is_nearer(tmp_path: Path) -> None:
    s = _run(tmp_path, ROUTING="nearest")
    by = s["requests_by_status"]
    assert by["finished"] + by["dropped"] + by["in_flight"] == s["num_requests"] == 200
    assert s["served_at_edge_frac"] == 1.0
    assert s["sites"]["edge"]["requests_served"] == 200
    assert s["sites"]["core"]["requests_served"] == 0
    # the network RTT in the breakdown is the 5G access plus a few ms of metro fibre
    assert 0.015 <= s["breakdown_mean_s"]["network_rtt"] <= 0.020


def test_spillover_relays_to_the_core_when_the_edge_is_full(tmp_path: Path) -> None:
    # one L40S replica and a burst far above its seats: the rest is relayed edge -> core
    s = _run(tmp_path, PLACEMENT="edge-first", NUM=600, RATE=200)
    by = s["requests_by_status"]
    assert by["finished"] + by["dropped"] + by["in_flight"] == 600
    assert 0.0 < s["relayed_frac"] < 1.0
    edge = s["sites"]["edge"]
    assert edge["backhaul_bytes"] > 0
    assert edge["backhaul_cost_usd"] == pytest.approx(edge["backhaul_bytes"] * 0.02e-9)
    assert s["sites"]["core"]["requests_served"] == round(s["relayed_frac"] * 600)


def test_core_only_placement_serves_everything_from_the_core(tmp_path: Path) -> None:
    s = _run(tmp_path, PLACEMENT="core-only")
    assert s["served_at_edge_frac"] == 0.0
    assert s["sites"]["edge"]["gpu_hours"] == 0.0
    assert [d["site"] for d in s["deployments"]] == ["core"]


def test_same_seed_same_summary(tmp_path: Path) -> None:
    a = _run(tmp_path, ROUTING="cost")
    b = _run(tmp_path, ROUTING="cost")
    for k in ("e2e_p50_s", "e2e_p99_s", "total_cost_usd", "requests_by_status"):
        assert a[k] == b[k]


def test_carbon_routing_prefers_the_cleaner_grid(tmp_path: Path) -> None:
    s = _run(tmp_path, ROUTING="carbon", NUM=50, RATE=1)
    # ERCOT (Texas) vs PJM (Virginia) in the bundled profiles: whichever is cleaner at
    # each arrival takes it while it has room; both sites are candidates
    served = {k: v["requests_served"] for k, v in s["sites"].items()}
    assert sum(served.values()) == 50


def test_compare_example_reports_latency_and_cost_and_edge_wins_p50(
        capsys: pytest.CaptureFixture[str]) -> None:
    main(["compare", str(EXAMPLE), "--json", "--seeds", "1", "--jobs", "1",
          "--set", "serving.workload[0].num_requests=600"])
    d = json.loads(capsys.readouterr().out)
    v = {x["label"]: x for x in d["variants"]}
    assert set(v) == {"core-only", "edge-first", "slo-driven"}
    for x in v.values():
        for key in ("e2e_p50_s", "e2e_p99_s", "cost_per_million_tokens_usd"):
            assert x["metrics"][key]["mean"] is not None and x["metrics"][key]["mean"] > 0
        run = x["runs"][0]["summary"]
        assert run["explanation"]
    core = v["core-only"]["metrics"]["e2e_p50_s"]["mean"]
    edge = v["edge-first"]["metrics"]["e2e_p50_s"]["mean"]
    assert edge < core
    assert d.get("explanation")


def test_simulate_example_with_rollout_writes_report(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    main(["simulate", str(EXAMPLE), "--json", "--outputs", "summary,report", "--out",
          str(tmp_path / "out"),
          "--set", "serving.workload[0].num_requests=800"])
    d = json.loads(capsys.readouterr().out)
    s = d.get("summary", d)
    by = s["requests_by_status"]
    assert by["finished"] + by["dropped"] + by["in_flight"] == 800
    r = s["rollout"]
    assert r["targets"] == 3 and r["sites_updated"] + r["sites_failed"] <= 3
    tv = r["traffic_by_version"]
    assert tv["v2"]["requests"] + tv["previous"]["requests"] == by["finished"]
    steps = [p["sites_new"] for p in r["timeline"]]
    assert steps == sorted(steps)
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="sites"' in html and "rollout of v2" in html and "edge-dallas" in html


def test_warmup_requests_are_left_out_of_a_sites_runs_metrics(tmp_path: Path) -> None:
    """As in a one-site run: the warm-up loads the sites but no latency, count or rate
    of the summary (top level, populations, services) includes it."""
    text = BASE.replace("num_requests: NUM\n", "num_requests: NUM\n      warmup_requests: 40\n")
    res = simulate_serving(load_serving_scenario(_write(tmp_path, text, ROUTING="nearest")))
    s, t = res.summary, res.requests
    assert (s["num_requests"], s["warmup_requests"]) == (160, 40)
    assert sum(v["num_requests"] for v in s["services"].values()) == 160
    assert sum(v["warmup_requests"] for v in s["services"].values()) == 40
    assert s["populations"]["dallas"]["requests"] == 160
    for name, v in s["services"].items():
        mine = (t.status == 0) & ~t.warmup & np.array([x == name for x in t.service])
        if mine.any():  # nearest routing: one group serves everything
            assert v["ttft_s"]["mean"] == pytest.approx(float(t.ttft_s[mine].mean()))
    assert s["ttft_s"]["mean"] == pytest.approx(
        float(t.ttft_s[(t.status == 0) & ~t.warmup].mean()) + s["breakdown_mean_s"][
            "network_rtt"] / 2)


def test_a_closed_loop_keeps_sending_through_the_site_router(tmp_path: Path) -> None:
    """The router's per-site copy of a request keeps its closed-loop group (and warm-up
    label): each completion sends the client's next request. Without it only the first
    wave was ever sent and the run waited for the rest to the horizon."""
    text = BASE.replace("arrival: {process: poisson, rate: RATE}", "concurrency: 8")
    text = text.replace("seed: 1\n", "seed: 1\nhorizon: 10min\n")
    s = _run_text(tmp_path, text)
    assert s["requests_by_status"] == {"finished": 200, "dropped": 0, "in_flight": 0}
    assert s["end_time_s"] < 120


def _run_text(tmp_path: Path, text: str) -> dict:
    return simulate_serving(load_serving_scenario(_write(tmp_path, text,
                                                         ROUTING="nearest"))).summary
