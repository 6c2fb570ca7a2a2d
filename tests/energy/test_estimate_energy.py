"""``estimate_energy`` facade and the ``gputwin estimate energy`` command."""

from __future__ import annotations

import json

import pytest
from tests.cli_run import run_cli
from tests.energy.conftest import GRID_DIR, needs_grid_data

from gputwin.errors import InputError, UnknownNameError
from gputwin.requests import EnergyRequest
from gputwin.run.estimate_energy import EnergyEstimate, estimate_energy


def energy_of(**fields: object) -> EnergyEstimate:
    """``estimate_energy`` from flat keywords (as the CLI and validation cases give them)."""
    return estimate_energy(EnergyRequest.from_flat(fields))

BASE = {"gpu": "h100-sxm-80gb", "num_gpus": 8, "gpu_hours": 80.0, "compute_frac": 0.9}


def test_outputs_are_consistent() -> None:
    d = energy_of(**BASE, region="GB").to_dict()
    assert d["facility_energy_j"] >= d["it_energy_j"] >= d["gpu_energy_j"] > 0
    assert d["gpu_hours"] == pytest.approx(80.0)
    assert d["co2e_g"]["total"] == pytest.approx(d["co2e_operational_g"] + d["co2e_embodied_g"])
    assert d["pue"] == pytest.approx(d["facility_energy_j"] / d["it_energy_j"])
    assert d["cost_usd"]["compute"] == pytest.approx(80.0 * 3.00)  # neocloud on-demand
    assert d["water_l"]["total"] >= d["water_l"]["onsite"] >= 0


def test_an_estimate_charges_embodied_per_allocated_gpu_second() -> None:
    """An estimate counts only the run's GPU-seconds: the allocated rate of the one rule, with
    or without a price (a part the price book lacks is charged the same carbon)."""
    from gputwin.energy.accounting import embodied_g_per_gpu_s

    d = energy_of(**BASE, region="GB").to_dict()
    rate = embodied_g_per_gpu_s("h100-sxm-80gb", 700.0, "allocated")
    assert d["co2e_embodied_g"] == pytest.approx(80.0 * 3600 * rate, rel=1e-9)
    assert d["embodied_basis"].startswith("allocated")


def test_cleaner_region_and_better_cooling_lower_carbon() -> None:
    dirty = energy_of(**BASE, region="IN-WE").to_dict()["co2e_operational_g"]
    clean = energy_of(**BASE, region="CA-ON").to_dict()["co2e_operational_g"]
    assert clean < dirty / 5
    air = energy_of(**BASE, region="SG", cooling="air").to_dict()
    liquid = energy_of(**BASE, region="SG", cooling="liquid").to_dict()
    assert liquid["facility_energy_j"] < air["facility_energy_j"]


def test_power_cap_lowers_power_and_stretches_a_modelled_run() -> None:
    kw = {"model": "llama3-8b", "gpu": "h100-sxm-80gb", "num_gpus": 8, "tokens": 1e9}
    free = energy_of(**kw).to_dict()
    capped = energy_of(**kw, power_cap_w=450.0).to_dict()
    assert capped["gpu_power_w"] <= 450.0 < free["gpu_power_w"]
    assert capped["duration_s"] > free["duration_s"]
    assert capped["gpu_energy_j"] < free["gpu_energy_j"]


def test_busy_frac_with_tokens_times_the_run_and_sets_the_power() -> None:
    # was: AssertionError (no training estimate when --busy-frac was given)
    kw = {"model": "llama3-8b", "gpu": "h100-sxm-80gb", "num_gpus": 8, "tokens": 1e9}
    modelled = energy_of(**kw).to_dict()
    half = energy_of(**kw, compute_frac=0.5).to_dict()
    assert half["compute_frac"] == 0.5 and half["layout"] == modelled["layout"]
    assert half["duration_s"] == pytest.approx(modelled["duration_s"])  # the training model's
    assert half["gpu_power_w"] < modelled["gpu_power_w"]


def test_bad_options_raise_input_errors() -> None:
    with pytest.raises(InputError, match="exactly one"):
        energy_of(gpu="h100-sxm-80gb", num_gpus=8, compute_frac=1.0)
    with pytest.raises(InputError, match="--start"):
        energy_of(**BASE, start="June")
    with pytest.raises(UnknownNameError, match="did you mean"):
        energy_of(**BASE, region="US-CAL-CSO")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(["estimate", "energy", *args], capsys)


CLI = ["--gpu", "h100-sxm-80gb", "--num-gpus", "8", "--gpu-hours", "80", "--model",
       "llama3-8b"]


def test_cli_json_summary_and_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([*CLI, "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    for key in ("energy_j", "co2e_g", "water_l", "cost_usd", "gpu_hours", "pue"):
        assert key in d
    code, out, _ = _run(CLI, capsys)
    assert code == 0 and "facility" in out and "embodied" in out
    code, _, err = _run([*CLI, "--region", "Mars"], capsys)
    assert code == 2 and err.startswith("error:") and "unknown region" in err
    assert len(err.strip().splitlines()) == 1


@needs_grid_data
def test_real_grid_data_is_used_when_asked() -> None:
    d = energy_of(**BASE, region="GB", grid_data=str(GRID_DIR.parents[1])).to_dict()
    assert d["grid_origin"].startswith("real 2023 data")
    assert 20 < d["carbon_intensity_mean_g_per_kwh"] < 400


def test_a_bare_gpu_gets_one_busy_hour_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    # `estimate energy --gpu mi300x` alone: one GPU for one hour, fully busy, priced
    code, out, _ = _run(["--gpu", "mi300x"], capsys)
    assert code == 0
    assert "compute $" in out and "n/a" not in out
    assert "assumed: one hour of the GPUs; GPUs busy computing all the time" in out
    assert "kWh" in out  # small runs in small units, not "0.00 MWh"
    code, out, _ = _run(["--gpu", "mi300x", "--json"], capsys)
    d = json.loads(out)
    assert d["gpu_hours"] == 1.0 and d["compute_frac"] == 1.0 and d["cost_usd"]["compute"] > 0
    code, out, _ = _run(["--gpu", "mi300x", "--num-gpus", "8", "--busy-frac", "0.5",
                         "--json"], capsys)
    half = json.loads(out)
    assert half["gpu_hours"] == 8.0 and half["compute_frac"] == 0.5
    assert half["gpu_power_w"] < d["gpu_power_w"]
    code, _, err = _run(["--gpu", "mi300x", "--busy-frac", "1.5"], capsys)
    assert code == 2 and "--busy-frac" in err


def test_a_part_rented_from_its_cloud_only_is_priced_there(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--gpu", "tpu-v6e", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["cost_usd"]["compute"] > 0
    assert "hyperscaler/on-demand" in d["cost_usd"]["basis"]
    code, out, _ = _run(["--gpu", "tpu-v6e", "--provider", "neocloud", "--json"], capsys)
    d = json.loads(out)
    assert d["cost_usd"]["compute"] is None and "offered: hyperscaler" in d["cost_usd"]["basis"]
