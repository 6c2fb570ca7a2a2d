"""AMD Instinct MI355X hold-out cases (serving_mi355x.yaml): every figure follows from the
numbers its citation quotes (InferenceX Throughput/GPU's output share; the GPU count that
Little's law gives from the row; MLPerf arrivals = tokens/s / output length), nothing was
fitted to them, and no case repeats one the suite already holds."""

from __future__ import annotations

import re

import pytest
from tests.validation.case_files import cases_outside

from gputwin.validation.runner import CASES_DIR, load_cases
from gputwin.validation.schema import ValidationCase

FILE = CASES_DIR / "serving_mi355x.yaml"
CASES = load_cases([FILE])
IMAX = [c for c in CASES if "InferenceX" in c.citation]
_ROW = re.compile(r"([\d,.]+) tok/s/GPU, median TTFT ([\d,.]+) ms, median TPOT ([\d.]+) ms, "
                  r"concurrency (\d+)")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _row(case: ValidationCase) -> tuple[float, float, float, int]:
    m = _ROW.search(case.citation)
    assert m, case.citation
    return _number(m.group(1)), _number(m.group(2)), float(m.group(3)), int(m.group(4))


def _lengths(case: ValidationCase) -> tuple[int, int]:
    closed = case.inputs["closed"]
    return closed["input"]["high"], closed["output"]["high"]


def test_file_is_hold_out_mi355x_and_large_enough() -> None:
    assert len(CASES) >= 8
    assert not any(c.calibration for c in CASES)
    assert {c.inputs["gpu"] for c in CASES} == {"mi355x"}
    assert all(c.url.startswith("https://") for c in CASES)


@pytest.mark.parametrize("case", IMAX, ids=lambda c: c.id)
def test_inferencex_row_is_one_gpu_by_littles_law(case: ValidationCase) -> None:
    tput, ttft_ms, tpot_ms, conc = _row(case)
    isl, osl = _lengths(case)
    closed = case.inputs["closed"]
    assert closed["concurrency"] == conc and closed["num_requests"] == 10 * conc
    assert closed["input"]["low"] == int(0.8 * isl) and closed["output"]["low"] == int(0.8 * osl)
    gpus = conc * 0.9 * (isl + osl) / (ttft_ms / 1e3 + 0.9 * osl * tpot_ms / 1e3) / tput
    assert gpus == pytest.approx(case.inputs["tp"], rel=0.06)


@pytest.mark.parametrize("case", IMAX, ids=lambda c: c.id)
def test_inferencex_figure_is_the_rows_number(case: ValidationCase) -> None:
    tput, ttft_ms, tpot_ms, _ = _row(case)
    isl, osl = _lengths(case)
    expected = {"output_tokens_per_s_per_gpu": tput * osl / (isl + osl),
                "tpot_s.p50": tpot_ms / 1e3, "ttft_s.p50": ttft_ms / 1e3}[case.metric]
    assert case.published == pytest.approx(expected, rel=2e-3)


def test_atom_rows_say_the_vllm_profile_stands_in() -> None:
    atom = [c for c in CASES if "atom" in c.citation]
    assert atom and all(c.inputs["engine"] == "vllm" and "STAND-IN" in c.notes for c in atom)


def test_mlperf_server_arrivals_are_tokens_over_output_length() -> None:
    servers = [c for c in CASES if "poisson" in c.inputs]
    assert len(servers) == 2  # v6.0 and v6.1
    for server in servers:
        poisson = server.inputs["poisson"]
        assert poisson["rate"] == pytest.approx(server.published / poisson["output"], rel=2e-3)


def test_mlperf_rows_run_amds_harness_and_inferencex_rows_a_stock_engine() -> None:
    mlperf = [c for c in CASES if "MLPerf" in c.title]
    assert len(mlperf) == 5  # v6.0 (87 and 8 GPUs, Offline; Server) and v6.1 (Offline, Server)
    assert all(c.inputs["engine"] == "vllm-amd-mlperf" for c in mlperf)
    assert all(c.inputs["engine"] == "vllm" for c in IMAX)


def test_no_case_repeats_one_the_suite_holds() -> None:
    others = {c.id for c in cases_outside(FILE)}
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & others
