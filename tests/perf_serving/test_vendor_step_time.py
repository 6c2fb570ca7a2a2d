"""An engine's host time per step by accelerator vendor (vLLM V1's CUDA back end against its
other back ends) and how a calibration file overrides it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from perf_serving_builders import make_perf, write_engines_yaml

from gputwin.errors import InputError
from gputwin.perf.engines import engine_profile, load_engine_profiles
from gputwin.perf.serving_calib import (
    default_serving_calibration,
    load_serving_calibration,
)


def test_the_step_time_follows_the_part_vendor() -> None:
    vllm = engine_profile("vllm")
    nvidia = vllm.step_overhead_for("nvidia")
    assert nvidia < vllm.step_overhead_for("amd") == vllm.step_overhead_s
    assert vllm.step_overhead_for("NVIDIA") == nvidia  # vendor names are case-blind
    # the same model on an NVIDIA and an AMD part: each step pays its back end's host time
    for gpu, step in (("h100-sxm-80gb", nvidia), ("mi300x", vllm.step_overhead_s)):
        p = make_perf(gpu=gpu)
        assert p._step_oh == step


def test_a_release_with_its_own_step_time_drops_the_vendor_ones() -> None:
    v06 = engine_profile("vllm-0.6")
    assert v06.vendor_step_overhead_s == {}
    assert make_perf(engine="vllm-0.6")._step_oh == v06.step_overhead_s


@pytest.mark.parametrize(("value", "match"), [
    ({"nvidia": 0.001}, "step_overhead_s"),            # no default
    ({"default": 0.003, "nvidia": 2.0}, "step_overhead_s"),  # beyond a second
    ({"default": 0.003, "nvidia": True}, "step_overhead_s"),
    ({"default": 0.003, "nvidai": 0.001}, "nvidai"),  # a vendor the engine does not run on
])
def test_a_bad_vendor_map_names_the_figure(tmp_path: Path, value: Any, match: str) -> None:
    def put(data: dict[str, Any]) -> None:
        data["engines"]["vllm"]["host"]["step_overhead_s"]["value"] = value

    with pytest.raises(InputError, match=match):
        load_engine_profiles(write_engines_yaml(tmp_path, put))


def test_a_calibration_file_step_time_holds_on_every_vendor(tmp_path: Path) -> None:
    default = default_serving_calibration()
    nvidia = engine_profile("vllm").step_overhead_for("nvidia")
    assert default.host_overheads("vllm", "nvidia")[0] == nvidia
    plain = tmp_path / "plain.yaml"
    plain.write_text("engines: {vllm: {step_overhead_s: 0.002}}\n")
    cal = load_serving_calibration(plain)
    assert cal.host_overheads("vllm", "nvidia")[0] == cal.host_overheads("vllm", "amd")[0] \
        == 0.002
    per_vendor = tmp_path / "vendor.yaml"
    per_vendor.write_text("engines: {vllm: {step_overhead_s.nvidia: 0.0012}}\n")
    cal = load_serving_calibration(per_vendor)
    assert cal.host_overheads("vllm", "nvidia")[0] == 0.0012
    assert cal.host_overheads("vllm", "amd")[0] == engine_profile("vllm").step_overhead_s


def test_a_calibration_file_refuses_an_unknown_engine_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("engines: {vllm: {step_overhead_s.: 0.001}}\n")
    with pytest.raises(InputError, match="unknown key"):
        load_serving_calibration(bad)
