"""Calibration: recovers known coefficients from synthetic data; bad CSVs name the line."""

from __future__ import annotations

import csv
import os
import random
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.cli.main import main
from gputwin.errors import InputError
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.perf.serving_calib import (
    ServingAccelCoefficients,
    ServingCalibration,
    default_serving_calibration,
    load_serving_calibration,
)
from gputwin.requests import ServeRequest, validated
from gputwin.run.calibrate import STEP_COLUMNS, calibrate, write_calibration
from gputwin.run.estimate_serve import ServingEstimate, estimate_serve
from gputwin.topology.hardware import resolve_hardware


def serve_of(**fields: object) -> ServingEstimate:
    """``estimate_serve`` from flat keywords."""
    return estimate_serve(validated(ServeRequest, {k: v for k, v in fields.items()
                                                   if k != "catalog"}),
                          catalog=fields.get("catalog"))  # type: ignore[arg-type]

GPU = "a100-sxm-80gb"


def _truth() -> ServingCalibration:
    base = default_serving_calibration()
    acc = ServingAccelCoefficients(GPU, 0.55, 0.62)
    return replace(base, step_overhead_s=0.004, engines={},
                   accelerators={**base.accelerators, GPU: acc})


def _write_steps(path: Path, n: int, noise: float, seed: int = 7) -> None:
    cat = default_catalog()
    perf = prepare_serving(ServingConfig(cat.model("llama3.1-8b"),
                                         resolve_hardware(cat, gpu=GPU)), _truth())
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(STEP_COLUMNS)
        for _ in range(n):
            p = rng.choice([0, 0, 256, 1024, 4096])
            d = rng.randint(1, 256)
            ctx = rng.randint(64, 4000)
            args = (p, 0.0, p * p / 2.0, d, float(d * ctx))
            w.writerow([*args, perf.step_time_s(*args) * (1 + rng.gauss(0, noise))])


def test_recovers_known_coefficients_and_reports_holdout(tmp_path: Path) -> None:
    csv_path = tmp_path / "steps.csv"
    _write_steps(csv_path, 40, noise=0.01)
    report = calibrate(csv_path, model="llama3.1-8b", gpu=GPU, folds=4)
    got = report.fit.coefficients
    assert got["step_overhead_s"] == pytest.approx(0.004, rel=0.1)
    assert got["compute_eff_mult"] == pytest.approx(0.55, rel=0.05)
    assert got["bandwidth_frac"] == pytest.approx(0.62, rel=0.05)
    d = report.to_dict()
    assert d["num_folds"] == 4
    assert d["fit_median_abs_error"] < 0.02
    assert d["holdout_median_abs_error"] is not None and d["holdout_median_abs_error"] < 0.03
    assert d["holdout_max_abs_error"] >= d["holdout_median_abs_error"]


def test_written_calibration_is_used_by_estimate(tmp_path: Path) -> None:
    csv_path = tmp_path / "steps.csv"
    _write_steps(csv_path, 25, noise=0.0)
    out = tmp_path / "calib.yaml"
    write_calibration(calibrate(csv_path, model="llama3.1-8b", gpu=GPU), out)
    cal = load_serving_calibration(out)
    assert cal.for_accelerator(GPU).bandwidth_frac == pytest.approx(0.62, rel=0.02)
    kw = {"model": "llama3.1-8b", "gpu": GPU, "input_tokens": 500, "output_tokens": 100}
    slow = serve_of(**kw, calibration=str(out)).tpot_s  # type: ignore[arg-type]
    fast = serve_of(**kw).tpot_s  # type: ignore[arg-type]
    assert slow > fast  # the synthetic GPU is less efficient than the defaults



def test_cli_out_refuses_a_fifo_and_writes_through_a_symlink(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "steps.csv"
    _write_steps(csv_path, 25, noise=0.0)
    args = ["calibrate", "--model", "llama3.1-8b", "--gpu", GPU, str(csv_path), "--out"]
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(SystemExit) as info:
        main([*args, str(tmp_path / "fifo")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"--out {tmp_path / 'fifo'}: exists and is a FIFO" in err
    assert stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)
    (tmp_path / "link.yaml").symlink_to("cal.yaml")
    main([*args, str(tmp_path / "link.yaml")])  # returns on success
    assert (tmp_path / "link.yaml").is_symlink()
    assert load_serving_calibration(tmp_path / "cal.yaml").for_accelerator(GPU)

def test_request_csv(tmp_path: Path) -> None:
    path = tmp_path / "req.csv"
    rows = []
    for inp, out, b in [(128, 128, 1), (512, 128, 8), (2048, 256, 16), (1024, 64, 32),
                        (256, 256, 64), (4096, 128, 4)]:
        est = serve_of(model="llama3.1-8b", gpu=GPU, input_tokens=inp,
                             output_tokens=out, batch_size=b)
        rows.append(f"{inp},{out},{b},{est.ttft_s},{est.tpot_s}")
    path.write_text("input_tokens,output_tokens,batch_size,ttft_s,tpot_s\n" + "\n".join(rows))
    report = calibrate(path, model="llama3.1-8b", gpu=GPU)
    # the measurements came from the defaults: the fit must keep them (errors ~0)
    assert report.fit.fit_max_abs_error < 0.01
    base = default_serving_calibration().for_accelerator(GPU)
    assert report.fit.coefficients["bandwidth_frac"] == pytest.approx(base.bandwidth_frac,
                                                                      rel=0.03)


@pytest.mark.parametrize(("text", "where", "what"), [
    ("a,b\n1,2\n", ":1", "header"),
    (",".join(STEP_COLUMNS) + "\n0,0,0,4,4000,0.01\n0,0,0,x,4000,0.01\n", ":3", "expected a"),
    (",".join(STEP_COLUMNS) + "\n0,0,0,4,4000,-1\n", ":2", "non-negative"),
    ("input_tokens,output_tokens,batch_size,ttft_s,tpot_s\n10,10,1,,\n", ":2", "ttft_s or"),
    # was: line 3 (rows counted, the blank line not)
    (",".join(STEP_COLUMNS) + "\n0,0,0,4,4000,0.01\n\n0,0,0,x,4000,0.01\n", ":4", "expected a"),
    # was: accepted, step_time_s = 0 and the 0.01 s measured dropped without a word
    (",".join(STEP_COLUMNS) + "\n0,0,0,4,4000,0,01\n", ":2", "expected 6 columns as in the "
                                                          "header, got 7"),
])
def test_bad_csv_names_the_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=what) as info:
        calibrate(path, model="llama3.1-8b", gpu=GPU)
    assert f"{path}{where}" in str(info.value)


REQUEST_HEADER = "input_tokens,output_tokens,batch_size,ttft_s,tpot_s\n"


@pytest.mark.parametrize(("rows", "where", "what"), [
    # was accepted, and the fit reported "worst 221481154.0%"
    ("128,128,1,0.02,0.007\n10000000,128,1,0.02,0.007\n512,128,8,0.05,0.008\n", ":3",
     "column input_tokens = 10000000 exceeds the 131072-token context of llama3.1-8b"),
    ("128,128,1,0.02,0.007\n131072,1,1,0.02,0.007\n512,128,8,0.05,0.008\n", ":3",
     "column input_tokens + output_tokens = 131073 exceeds the 131072-token context of "
     "llama3.1-8b"),
])
def test_rows_beyond_the_models_context_name_the_line_and_column(
        tmp_path: Path, rows: str, where: str, what: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(REQUEST_HEADER + rows)
    with pytest.raises(InputError) as info:
        calibrate(path, model="llama3.1-8b", gpu=GPU)
    assert str(info.value) == f"{path}{where}: {what}"


@pytest.mark.parametrize(("text", "what"), [
    # was: "need at least 3 measurements to fit 3 coefficients, got 2" (no file, no rows)
    (REQUEST_HEADER + "128,128,1,0.02,0.007\n",
     "1 row gives 2 measured time(s); fitting 3 coefficients (step_overhead_s, "
     "compute_eff_mult, bandwidth_frac) needs at least 2 request rows with both ttft_s and "
     "tpot_s (3 with one of them)"),
    (",".join(STEP_COLUMNS) + "\n0,0,0,4,4000,0.01\n0,0,0,8,8000,0.02\n",
     "2 rows give 2 measured time(s); fitting 3 coefficients (step_overhead_s, "
     "compute_eff_mult, bandwidth_frac) needs at least 3 rows of step times"),
])
def test_too_few_rows_name_the_file_and_the_rows_needed(tmp_path: Path, text: str,
                                                         what: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        calibrate(path, model="llama3.1-8b", gpu=GPU)
    assert str(info.value) == f"{path}: {what}"


def test_bad_calibration_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("step_overhead_s: fast\n")
    with pytest.raises(InputError, match="step_overhead_s"):
        load_serving_calibration(path)
    path.write_text("typo_s: 1\n")
    with pytest.raises(InputError, match="unknown coefficient"):
        load_serving_calibration(path)


def test_text_marks_a_coefficient_fitted_onto_its_bound(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Times far faster than the roofline push compute_eff_mult and bandwidth_frac to the
    top of their ranges; the text says so instead of printing 1.5 and 1 as plain fits."""
    from gputwin.perf.serving_fit import bound_reached

    assert bound_reached("compute_eff_mult", 1.5) == "upper bound 1.5"
    assert bound_reached("step_overhead_s", 0.0) == "lower bound 0"
    assert bound_reached("bandwidth_frac", 0.7) is None
    path = tmp_path / "fast.csv"
    path.write_text("input_tokens,output_tokens,batch_size,ttft_s,tpot_s\n"
                    + "".join(f"{n},128,{b},{n * 1e-6:.6f},0.0005\n"
                              for n, b in ((512, 1), (1024, 8), (2048, 16), (4096, 32))))
    from tests.cli_run import run_cli

    code, out, err = run_cli(["calibrate", str(path), "--model", "llama3-8b", "--gpu",
                              "h100-sxm-80gb"], capsys)
    assert code == 0, err
    assert "(at its upper bound" in out
