"""One fused-attention rate (perf/attention_rate.py) read by the training model, the serving
model and the kernel checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from gputwin.catalog.loader import default_catalog
from gputwin.catalog.schema import Accelerator
from gputwin.errors import InputError
from gputwin.perf.attention_rate import (
    kernel_fwd_rate,
    serving_fwd_rate,
    training_bwd_rate,
    training_fwd_rate,
)
from gputwin.perf.calibration import (
    CALIBRATION_PATH,
    MAX_GEMM_FRAC,
    AcceleratorCoefficients,
    default_calibration,
    load_calibration,
)
from gputwin.perf.kernel import attention_estimate
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.perf.serving_calib import default_serving_calibration
from gputwin.topology.hardware import resolve_hardware

PARTS = ["gb300", "gb200", "h200-sxm-141gb", "a100-sxm-80gb"]


def _coeff(part: str) -> tuple[Accelerator, AcceleratorCoefficients]:
    acc = default_catalog().accelerator(part)
    return acc, default_calibration().for_accelerator(acc.name)


@pytest.mark.parametrize("part", PARTS)
def test_kernel_check_and_serving_read_the_shared_rates(part: str) -> None:
    acc, coeff = _coeff(part)
    mult = default_serving_calibration().attention_eff_mult
    fwd = attention_estimate(part, "bf16", 128)
    bwd = attention_estimate(part, "bf16", 128, pass_="bwd")
    assert fwd.tflops * 1e12 == pytest.approx(training_fwd_rate(acc, coeff, "bf16"))
    assert bwd.tflops * 1e12 == pytest.approx(training_bwd_rate(acc, coeff, "bf16"))
    hw = resolve_hardware(default_catalog(), gpu=part)
    serving = prepare_serving(ServingConfig(default_catalog().model("llama3.1-8b"), hw))
    assert serving._attn_rate == pytest.approx(serving_fwd_rate(acc, coeff, "bf16", mult))
    assert fwd.serving_tflops is not None
    assert fwd.serving_tflops * 1e12 == pytest.approx(serving._attn_rate)


def test_a_kernel_fraction_is_one_rate_for_training_and_serving() -> None:
    # GB300: a fraction measured on the kernel carries the softmax speed-up into the
    # training forward and reaches serving without its end-to-end lift
    acc, coeff = _coeff("gb300")
    kernel = replace(coeff, attention_kernel=True)
    mult = default_serving_calibration().attention_eff_mult
    assert acc.attention_sfu_speedup > 1.0 and mult != 1.0
    rate = training_fwd_rate(acc, kernel, "bf16")
    assert rate == pytest.approx(kernel_fwd_rate(acc, kernel, "bf16"))
    assert serving_fwd_rate(acc, kernel, "bf16", mult) == pytest.approx(rate)
    assert rate == pytest.approx(acc.peak_for("bf16") * coeff.attention_frac
                                 * acc.attention_sfu_speedup)
    # the backward (five matmuls per exponential) keeps the rate before the speed-up
    assert training_bwd_rate(acc, kernel, "bf16") == pytest.approx(
        acc.peak_for("bf16") * coeff.attention_frac * coeff.attention_bwd_rate)


def test_an_end_to_end_fraction_is_lifted_for_serving_only() -> None:
    acc, coeff = _coeff("gb300")
    e2e = replace(coeff, attention_kernel=False)
    mult = default_serving_calibration().attention_eff_mult
    peak = acc.peak_for("bf16")
    assert training_fwd_rate(acc, e2e, "bf16") == pytest.approx(peak * coeff.attention_frac)
    assert serving_fwd_rate(acc, e2e, "bf16", mult) == pytest.approx(
        peak * min(1.0, coeff.attention_frac * mult) * acc.attention_sfu_speedup)


def _write(tmp_path: Path, family: str, **fields: object) -> Path:
    data = yaml.safe_load(CALIBRATION_PATH.read_text())
    data["accelerators"][family].update(fields)
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_backward_rate_defaults_to_the_top_level_figure(tmp_path: Path) -> None:
    data = yaml.safe_load(CALIBRATION_PATH.read_text())
    cal = load_calibration(_write(tmp_path, "a100"))
    assert cal.for_accelerator("a100-sxm-80gb").attention_bwd_rate == data["attention_bwd_rate"]
    cal = load_calibration(_write(tmp_path, "a100", attention_bwd_rate=0.5))
    assert cal.for_accelerator("a100-sxm-80gb").attention_bwd_rate == 0.5


def test_attention_kernel_flag_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"accelerators\.a100\.attention_kernel"):
        load_calibration(_write(tmp_path, "a100", attention_kernel="yes"))


@pytest.mark.parametrize("frac", [0.0, -0.2, 1.5])
def test_gemm_fraction_outside_its_range_names_the_family(tmp_path: Path, frac: float) -> None:
    with pytest.raises(InputError, match=r"accelerators\.a100\.gemm_max_frac.*bf16"):
        load_calibration(_write(tmp_path, "a100", gemm_max_frac={"bf16": frac}))


def test_a_card_boosting_above_its_rated_clock_keeps_its_measured_gemm_fraction() -> None:
    # the RTX 5090's torch.matmul (237 TFLOP/s BF16) beats its rated-clock 209.5
    coeff = default_calibration().for_accelerator("rtx-5090")
    acc = default_catalog().accelerator("rtx-5090")
    assert 1.0 < coeff.gemm_frac("bf16") <= MAX_GEMM_FRAC
    assert acc.peak_for("bf16") * coeff.gemm_frac("bf16") / 1e12 == pytest.approx(237, rel=0.02)
