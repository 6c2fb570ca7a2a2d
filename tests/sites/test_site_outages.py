"""Site outages in runs across sites (`serving.failures.site_outages`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import load_serving_scenario

SCENARIO = """\
name: outage-test
seed: 2
sites:
  - {name: east, kind: core, location: aws/us-east-1, gpus: {h100-sxm-80gb: 8}}
  - {name: west, kind: core, location: aws/us-west-1, gpus: {h100-sxm-80gb: 8}}
users:
  - {name: ny, location: metro/new-york, share: 0.7, access: fibre}
  - {name: sf, location: metro/san-francisco, share: 0.3, access: fibre}
routing: {policy: ROUTING}
serving:
  failures: {models: {}, restart: 20s, OUTAGES}
  services:
    - {name: chat, model: llama3.1-8b, gpu: h100-sxm-80gb, sites: {east: 2, west: 2}}
  workload:
    - kind: synthetic
      service: chat
      num_requests: 4000
      arrival: {process: poisson, rate: 20}
      prompt: {dist: lognormal, mean: 800, median: 500}
      output: {dist: lognormal, mean: 200, median: 120}
"""
OUTAGE = "site_outages: [{site: east, at: 60s, duration: 60s}]"


def _run(tmp_path: Path, outages: str = OUTAGE, routing: str = "latency",
         overrides: list[str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("OUTAGES", outages).replace("ROUTING", routing))
    return simulate_serving(load_serving_scenario(path, overrides or []))


def _served_at(result, site: str, t0: float, t1: float) -> int:  # type: ignore[no-untyped-def]
    t = result.requests
    group = f"chat@{site}"
    return sum(1 for svc, first in zip(t.service, t.first_token_s, strict=True)
               if svc == group and t0 <= first < t1)


@pytest.mark.parametrize("routing", ["latency", "nearest"])
def test_outage_moves_requests_to_the_other_site_and_loses_none(tmp_path: Path,
                                                                routing: str) -> None:
    res = _run(tmp_path, routing=routing)
    s = res.summary
    assert s["requests_by_status"] == {"finished": 4000, "dropped": 0, "in_flight": 0}
    (o,) = s["failures"]["site_outages"]
    assert o["site"] == "east" and o["replicas_down"] == 2
    assert o["requests_retried"] > 0 and o["requests_failed"] == 0
    # nothing starts at the east site while it is down (retries after 30 s detection)
    assert _served_at(res, "east", 60.0 + 1e-6, 120.0) == 0
    assert _served_at(res, "west", 60.0, 120.0) > 0
    # the east replicas come back after the outage + their restart (20 s)
    assert _served_at(res, "east", 140.0, 1e9) > 0
    east = s["services"]["chat@east"]["failures"]
    assert east["faults"] == 1 and east["by_cause"] == {"site": 1}
    assert east["replica_down_hours"] == pytest.approx(2 * (60 + 20) / 3600)
    assert 0 < east["capacity_lost_frac"] < 1
    assert s["services"]["chat@west"]["failures"]["faults"] == 0
    # the run's totals (what `gputwin compare` reads)
    assert s["failures"]["faults"] == 1
    assert s["failures"]["requests_retried"] == o["requests_retried"]
    assert 0 < s["failures"]["capacity_lost_frac"] < east["capacity_lost_frac"]


def test_without_outage_east_serves_the_east(tmp_path: Path) -> None:
    base = _run(tmp_path, outages="site_outages: []")
    out = _run(tmp_path)
    assert base.summary["failures"]["site_outages"] == []
    # the outage shifts requests west in its window (and only then)
    assert _served_at(out, "west", 60, 120) > 1.5 * _served_at(base, "west", 60, 120)
    assert _served_at(out, "west", 0, 60) == _served_at(base, "west", 0, 60)


def test_same_seed_same_result(tmp_path: Path) -> None:
    a, b = _run(tmp_path), _run(tmp_path)
    assert list(a.requests.finish_s) == list(b.requests.finish_s)


def test_outage_of_an_unknown_site_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"site_outages\[0\]\.site|site_outages\.0\.site"):
        _run(tmp_path, outages="site_outages: [{site: north, at: 60s, duration: 60s}]")


def test_outages_need_sites(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("""\
name: one-site
serving:
  failures: {site_outages: [{site: east, at: 1min, duration: 1min}]}
  services:
    - {name: chat, model: llama3.1-8b, gpu: h100-sxm-80gb}
  workload:
    - {kind: synthetic, service: chat, num_requests: 10, arrival: {process: poisson, rate: 1},
       prompt: {dist: fixed, value: 100}, output: {dist: fixed, value: 10}}
""")
    with pytest.raises(InputError, match="site outages need a run across sites"):
        load_serving_scenario(path)
