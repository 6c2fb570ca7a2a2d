"""Reliability hold-outs from other fleets (reliability_fleets.yaml) and the metric paths
they use (validation/runner.py ``metric_value``)."""

from __future__ import annotations

import pytest

from gputwin.validation.runner import CASES_DIR, load_cases, metric_value, run_case

CASES = {c.id: c for c in load_cases([CASES_DIR / "reliability_fleets.yaml"])}


def test_metric_paths_and_sums() -> None:
    payload = {"a": 1.0, "by_cause": {"gpu": 2.0, "hbm": 0.5}, "none": None, "a.b": 7.0}
    assert metric_value(payload, "a") == 1.0
    assert metric_value(payload, "by_cause.gpu") == 2.0
    assert metric_value(payload, "by_cause.gpu+by_cause.hbm+a") == 3.5
    assert metric_value(payload, "a.b") == 7.0  # a key with a dot is read as a key first
    assert metric_value(payload, "by_cause.nic") is None
    assert metric_value(payload, "by_cause") is None  # a dict is no number
    assert metric_value(payload, "none") is None


def test_job_rate_fitted_at_one_node_predicts_128_nodes() -> None:
    """The scale of the 1,024-GPU case is the 8-GPU MTTF's ratio (its FITTED source) and
    the 128-node MTTF it predicts is within the case's tolerance."""
    one = run_case(CASES["meta-rsc-mttf-8-gpu-jobs"])
    assert one.predicted is not None
    scale = one.predicted / CASES["meta-rsc-mttf-8-gpu-jobs"].published
    case = CASES["meta-rsc-mttf-1024-gpu-jobs-at-job-rate"]
    assert case.inputs["fault_rate_scale"] == pytest.approx(scale, rel=1e-3)
    held = run_case(case)
    assert held.rel_error is not None and abs(held.rel_error) <= case.tolerance_frac


def test_hardware_restarts_count_hardware_causes_only() -> None:
    case = CASES["opt-175b-hardware-restarts"]
    assert "software" not in case.metric and "maintenance" not in case.metric
    assert run_case(case).predicted is not None
