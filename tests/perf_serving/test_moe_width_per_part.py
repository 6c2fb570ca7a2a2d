"""A part's own narrow-expert half-width (``accelerators.<family>.moe_width_half``)."""

from __future__ import annotations

import dataclasses

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.serving import ServingConfig, ServingPerf
from gputwin.perf.serving_calib import default_serving_calibration, parse_serving_calibration
from gputwin.topology.hardware import resolve_hardware


def _perf(gpu: str, cal: object) -> ServingPerf:
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu=gpu, system=None)
    cfg = ServingConfig(cat.model("qwen3-30b-a3b"), hw, weights_dtype="fp4",
                        kv_cache_dtype="fp8", engine="trtllm")
    return ServingPerf(cfg, cal)  # type: ignore[arg-type]


def test_a_family_without_its_own_value_uses_the_global_one() -> None:
    cal = default_serving_calibration()
    assert cal.for_accelerator("b200").moe_width_half is None
    assert cal.moe_width_half_for("b200") == cal.moe_width_half
    assert cal.moe_width_half_for("no-such-part") == cal.moe_width_half


def test_the_bundled_rtx_pro_value_reaches_the_expert_gemms() -> None:
    cal = default_serving_calibration()
    own = cal.moe_width_half_for("rtx-pro-6000")
    assert own != cal.moe_width_half  # the part has a fitted value of its own
    perf = _perf("rtx-pro-6000", cal)
    assert perf._groups[0][1] == pytest.approx(768 / (768 + own))
    # only that part: B200 keeps the global half-width
    assert _perf("b200", cal)._groups[0][1] == pytest.approx(768 / (768 + cal.moe_width_half))


def test_a_smaller_half_width_speeds_up_only_that_parts_moe_step() -> None:
    base = default_serving_calibration()
    rtx = base.for_accelerator("rtx-pro-6000")
    slow = dataclasses.replace(base, accelerators={
        **base.accelerators, "rtx-pro-6000": dataclasses.replace(rtx, moe_width_half=20000.0)})

    def step(cal: object) -> float:  # a compute-heavy prefill step of 8192 tokens
        return _perf("rtx-pro-6000", cal).step_time_s(8192, 0.0, 8192 * 4096.0, 0, 0.0)

    assert step(slow) > 1.5 * step(base)


def test_an_overlay_keeps_or_sets_the_family_value() -> None:
    base = default_serving_calibration()
    own = base.moe_width_half_for("rtx-pro-6000")
    kept = parse_serving_calibration(
        {"accelerators": {"rtx-pro-6000": {"bandwidth_frac": 0.9}}}, "user.yaml", base=base)
    assert kept.moe_width_half_for("rtx-pro-6000") == own
    assert kept.for_accelerator("rtx-pro-6000").bandwidth_frac == 0.9
    new = parse_serving_calibration(
        {"accelerators": {"h100": {"moe_width_half": 3000}}}, "user.yaml", base=base)
    assert new.moe_width_half_for("h100-sxm-80gb") == 3000
    # the plain-data form carries it, and reads back the same
    again = parse_serving_calibration(new.as_mapping(), "again.yaml")
    assert again.moe_width_half_for("h100-sxm-80gb") == 3000
    assert again.moe_width_half_for("b200") == base.moe_width_half


def test_a_bad_family_value_names_the_key() -> None:
    base = default_serving_calibration()
    with pytest.raises(InputError, match="moe_width_half"):
        parse_serving_calibration({"accelerators": {"h100": {"moe_width_half": 0}}},
                                  "user.yaml", base=base)
