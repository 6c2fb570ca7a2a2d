"""The parts replica faults are built from: the per-replica fault draw and the fault counts."""

from __future__ import annotations

import numpy as np
import pytest

from gputwin.reliability import faults
from gputwin.serving.fault_plan import SiteOutage, draw_fault, replica_rates_per_s
from gputwin.serving.fault_stats import (
    OutageStats,
    ServiceFaultStats,
    failures_report,
    site_outage_rows,
    total_stats,
)


def test_draw_fault_times_are_exponential_and_causes_follow_the_rates():
    gpu = faults.build("gpu", {"rate_per_unit_hour": 1.0})
    host = faults.build("host", {"rate_per_unit_hour": 3.0})
    rates = replica_rates_per_s((gpu, host), 8, 8)
    total = sum(r for _, r in rates)
    rng = np.random.default_rng(7)
    draws = [draw_fault(rates, rng, 100.0) for _ in range(4000)]
    assert all(d is not None and d[0] >= 100.0 for d in draws)
    gaps = np.array([d[0] - 100.0 for d in draws if d is not None])
    assert gaps.mean() == pytest.approx(1.0 / total, rel=0.05)
    share_host = sum(1 for d in draws if d is not None and d[1] is host) / len(draws)
    host_rate = dict((m.name, r) for m, r in rates)["host"]
    assert share_host == pytest.approx(host_rate / total, abs=0.03)


def test_draw_fault_with_no_rate_draws_nothing():
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    assert draw_fault([], rng, 0.0) is None
    assert rng.bit_generator.state == state  # no draw spent


def test_fault_counts_add_up_and_report():
    a, b = ServiceFaultStats(), ServiceFaultStats()
    a.count_fault("gpu")
    a.count_fault("gpu")
    b.count_fault("site")
    a.down_replica_s, b.down_replica_s, b.unheld_s = 3600.0, 1800.0, 600.0
    a.retried, b.failed, b.lost_tokens = 4, 1, 50
    both = total_stats([a, b])
    assert both.faults == {"gpu": 2, "site": 1} and both.down_replica_s == 5400.0
    rep = failures_report(both, 9000.0)
    assert rep["faults"] == 3 and rep["by_cause"] == {"gpu": 2, "site": 1}
    assert rep["replica_down_hours"] == pytest.approx(1.5)
    assert rep["capacity_lost_frac"] == pytest.approx(5400.0 / (9000.0 + 600.0))
    assert (rep["requests_retried"], rep["requests_failed"], rep["output_tokens_lost"]) == (
        4, 1, 50)
    assert failures_report(ServiceFaultStats(), 0.0)["capacity_lost_frac"] == 0.0
    assert failures_report(a, 100.0)["capacity_lost_frac"] == 1.0  # capped


def test_site_outage_rows_pair_outages_with_their_counts():
    outage = SiteOutage("east", ("chat",), 10.0, 70.0, 5.0)
    st = OutageStats(replicas=2, requests_retried=7, requests_failed=1)
    (row,) = site_outage_rows([outage], [st])
    assert row == {"site": "east", "start_s": 10.0, "end_s": 70.0, "groups": ["chat"],
                   "replicas_down": 2, "requests_retried": 7, "requests_failed": 1}
    with pytest.raises(ValueError):
        site_outage_rows([outage], [])
