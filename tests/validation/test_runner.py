"""The validation runner's own behaviour: loading, errors, statistics."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.validation.runner import CaseResult, error_stats, load_cases
from gputwin.validation.schema import ValidationCase


def _case(**over: object) -> ValidationCase:
    base: dict[str, object] = dict(
        id="x", kind="training", title="t", citation="Someone, 2024, Table 1",
        inputs={}, metric="mfu", published=0.5, tolerance_frac=0.1,
    )
    base.update(over)
    return ValidationCase.model_validate(base)


def test_rel_error_and_pass() -> None:
    assert CaseResult(_case(), 0.54).passed
    assert not CaseResult(_case(), 0.56).passed
    assert CaseResult(_case(), 0.45).rel_error == pytest.approx(-0.1)
    assert not CaseResult(_case(), None, error="boom").passed


def test_known_gap_is_reported_not_failed() -> None:
    gap = _case(known_gap="MoE kernels not modelled")
    miss = CaseResult(gap, 0.70)
    assert miss.is_known_gap and miss.passed and not miss.within
    hit = CaseResult(gap, 0.52)
    assert hit.within and not hit.is_known_gap
    assert not CaseResult(gap, None, error="boom").passed
    assert error_stats([miss]) is not None and error_stats([miss]).worst_abs_error == (
        pytest.approx(0.4))


def test_error_stats_median_and_worst() -> None:
    results = [CaseResult(_case(id=f"c{i}"), 0.5 * (1 + e)) for i, e in
               enumerate([0.01, -0.05, 0.2])]
    stats = error_stats(results)
    assert stats is not None
    assert stats.median_abs_error == pytest.approx(0.05)
    assert stats.worst_abs_error == pytest.approx(0.2)
    assert stats.worst_case == "c2"
    assert error_stats([]) is None


def test_bad_case_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "cases:\n"
        "  - id: a\n"
        "    kind: training\n"
        "    title: t\n"
        "    citation: Someone 2024 Table 1\n"
        "    inputs: {}\n"
        "    metric: mfu\n"
        "    published: 0.5\n"
        "    tolerance_frac: -0.1\n"
    )
    with pytest.raises(InputError) as info:
        load_cases([path])
    msg = str(info.value)
    assert f"{path}:9" in msg and "tolerance_frac" in msg


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    entry = (
        "  - {id: a, kind: training, title: t, citation: Someone 2024 Table 1, inputs: {},"
        " metric: mfu, published: 0.5, tolerance_frac: 0.1}\n"
    )
    path = tmp_path / "dup.yaml"
    path.write_text("cases:\n" + entry + entry)
    with pytest.raises(InputError, match="duplicate case id"):
        load_cases([path])


def test_supply_kind_runs_economics_supply() -> None:
    from gputwin.validation.runner import run_case

    case = _case(kind="supply", inputs={"region": "GB", "load_mw": 100,
                                        "ppa": ["wind-onshore:100"]},
                 metric="ppa_capacity_factor_frac", published=0.263)
    res = run_case(case)
    assert res.predicted == pytest.approx(0.263, rel=1e-3) and res.within


def test_supply_kind_leaves_out_ratios_a_year_cannot_give() -> None:
    from gputwin.validation.runner import run_case

    res = run_case(_case(kind="supply", inputs={"region": "GB", "load_mw": 100},
                         metric="battery_round_trip_frac", published=0.85))
    assert res.predicted is None and "not in the estimate" in res.error


def test_tco_kind_reports_facility_capex_per_mw() -> None:
    from gputwin.energy.tco import tco_table
    from gputwin.validation.runner import run_case

    for cooling in ("air", "liquid"):
        res = run_case(_case(kind="tco", inputs={"gpu": "h100-sxm-80gb", "cooling": cooling},
                             metric="facility_usd_per_mw", published=1e7))
        assert res.predicted == pytest.approx(tco_table().facility_usd_per_mw[cooling])
