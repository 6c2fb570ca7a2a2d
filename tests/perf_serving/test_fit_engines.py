"""Fitting engine GEMM multipliers to published offline rows."""

from __future__ import annotations

import pytest

from gputwin.perf.engines import engine_profile
from gputwin.run import fit_engines
from gputwin.run.fit_engines import OfflineRow, benchmark_requests, fit_engine, load_rows


def test_bundled_rows_load_and_use_catalog_names() -> None:
    from gputwin.catalog.loader import default_catalog

    rows = load_rows("trtllm")
    assert len(rows) >= 60 and {r.weights for r in rows} == {"fp8", "fp4"}
    cat = default_catalog()
    for r in rows:
        cat.model(r.model)
        cat.accelerator(r.gpu)
    assert load_rows("no-such-engine") == []


def test_request_counts_follow_trtllm_bench() -> None:
    assert benchmark_requests(128, 128) == 10000
    assert benchmark_requests(20000, 2000) == 1000
    assert benchmark_requests(2048, 2048) == 1500
    assert benchmark_requests(1000, 1000) == 3000


def test_fit_recovers_a_known_multiplier(monkeypatch: pytest.MonkeyPatch) -> None:
    # a fake simulator whose throughput scales with the fp8 multiplier: truth is 1.15
    rows = [OfflineRow("m", "g", 1, "fp8", 128, n, 1000.0 + n) for n in range(1, 9)]

    def fake(row: OfflineRow, engine: str) -> float:
        g = engine_profile(engine).gemm_mult("fp8")
        return row.published * g / 1.15

    monkeypatch.setattr(fit_engines, "predict", fake)
    fit = fit_engine("trtllm", rows, grid=(1.0, 1.1, 1.15, 1.2), folds=4)
    assert fit.multipliers == {"fp8": 1.15}
    assert fit.fit_max_abs_error == pytest.approx(0.0, abs=1e-12)
    assert fit.holdout_max_abs_error == pytest.approx(0.0, abs=1e-12)
    bundled = fit_engines.engines_mod.load_engine_profiles()[1]["trtllm"]
    assert engine_profile("trtllm").gemm_eff_mult == bundled.gemm_eff_mult  # restored


def test_the_temporary_multiplier_reaches_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    row = OfflineRow("llama3.1-8b", "h100-sxm-80gb", 1, "fp8", 512, 16, 1.0)
    monkeypatch.setattr(fit_engines, "benchmark_requests", lambda i, o: 200)
    base = fit_engines.predict(row, "trtllm")
    with fit_engines._gemm_mult("trtllm", "fp8", 0.5):
        slow = fit_engines.predict(row, "trtllm")
    assert slow < 0.8 * base
    assert fit_engines.predict(row, "trtllm") == base


def test_grid_value_minimises_squared_log_error_over_the_chosen_rows() -> None:
    from gputwin.run.fit_engines import best_grid_value, error_summary

    # value 1.0: rows 0-1 exact, row 2 2x off; value 2.0: row 2 exact, rows 0-1 off
    table = {1.0: [0.0, 0.0, 1.0], 2.0: [0.5, -0.5, 0.0]}
    assert best_grid_value(table, [0, 1]) == 1.0
    assert best_grid_value(table, [2]) == 2.0
    assert best_grid_value(table, [0, 1, 2]) == 1.0  # ln(2)^2 < ln(1.5)^2 + ln(0.5)^2
    s = error_summary([0.1, -0.3, 0.2])
    assert s == {"n": 3, "median_abs": 0.2, "max_abs": 0.3}
    assert error_summary([]) == {"n": 0, "median_abs": 0.0, "max_abs": 0.0}
