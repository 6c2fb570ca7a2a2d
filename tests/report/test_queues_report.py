"""Queue and tenant tables: from a real Kueue run's summary into the HTML report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_builders import make_result

from gputwin.report.html import render_report
from gputwin.report.queues import queues_table, tenants_table
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kueue-cohorts.yaml"


def _rows(table: str) -> list[list[str]]:
    body = table.split("<tbody>")[1]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body.split("<tr>")[1:]]


@pytest.fixture(scope="module")
def kueue_summary() -> dict:  # type: ignore[type-arg]
    return simulate(load_scenario(EXAMPLE)).summary


def test_simulate_puts_queues_in_the_summary(kueue_summary: dict) -> None:  # type: ignore[type-arg]
    queues = kueue_summary["queues"]
    assert set(queues) == {"inference", "team-a", "team-b", "team-c"}
    total_jobs = sum(q["num_jobs"] for q in queues.values())
    assert total_jobs == kueue_summary["num_jobs"]
    # lending and borrowing balance within the cohort (docs/multi-tenancy.md)
    assert sum(q["gpu_hours_lent"] for q in queues.values()) == pytest.approx(
        sum(q["gpu_hours_borrowed"] for q in queues.values()))


def test_queue_table_shows_every_queue_with_its_figures(kueue_summary: dict) -> None:  # type: ignore[type-arg]
    table = queues_table(kueue_summary)
    assert table is not None
    rows = {r[0]: r for r in _rows(table)}
    assert set(rows) == set(kueue_summary["queues"])
    q = kueue_summary["queues"]["team-a"]
    assert rows["team-a"][2] == "16"  # nominal GPUs
    assert rows["team-a"][8] == f"{q['admissions']:,}"
    assert rows["team-a"][9] == f"{q['preemptions_by_reason']['within-queue']:,}"
    html = render_report(make_result(summary=kueue_summary))
    assert 'id="table-queues"' in html and 'id="tenancy"' in html


def test_no_tenancy_section_without_queues_or_entitlements() -> None:
    summary = {"tenants": {"x": {"num_jobs": 1, "gpu_hours": 2.0, "gpu_hours_frac": 1.0}}}
    assert queues_table(summary) is None and tenants_table(summary) is None
    assert 'id="tenancy"' not in render_report(make_result(summary=summary))


def test_tenant_table_compares_share_with_entitlement() -> None:
    summary = {"tenants": {
        "x": {"num_jobs": 3, "gpu_hours": 30.0, "gpu_hours_frac": 0.75, "entitlement_frac": 0.5,
              "entitled_gpu_hours": 40.0, "usage_vs_entitlement": 0.75},
        "y": {"num_jobs": 1, "gpu_hours": 10.0, "gpu_hours_frac": 0.25,
              "entitlement_frac": 0.5, "entitled_gpu_hours": 40.0,
              "usage_vs_entitlement": 0.25}}}
    table = tenants_table(summary)
    assert table is not None
    rows = {r[0]: r for r in _rows(table)}
    assert rows["x"][3] == "75.0 %" and rows["x"][4] == "50.0 %" and rows["x"][6] == "0.75×"
    assert 'id="table-tenants"' in render_report(make_result(summary=summary))
