"""The generation-series probe splits a series into parallel and serial seconds."""

from __future__ import annotations

from types import ModuleType

import pytest
from tests.bench.bench_scripts import BENCH_DIR, load_script

BENCH = BENCH_DIR / "probe_generation_series.py"


def _load() -> ModuleType:
    return load_script(BENCH)


def test_fit_recovers_an_exact_parallel_plus_serial_series() -> None:
    probe = _load()
    points = [(n, 1000.0 / n + 40.0) for n in (1, 2, 4, 8)]
    parallel_s, serial_s = probe.fit_parallel_serial(points)
    assert parallel_s == pytest.approx(1000.0)
    assert serial_s == pytest.approx(40.0)


def test_series_group_cases_that_differ_only_in_the_gpu_count() -> None:
    probe = _load()
    series = probe._series()
    assert series, "the generation suite has multi-GPU series"
    for rows in series.values():
        gpus = [n for n, _, _ in rows]
        assert len(set(gpus)) >= 2
        assert all(pub > 0 and pred > 0 for _, pub, pred in rows)
