"""``estimate train --failures`` says which fault rates it used, their source and the
checkpoint size behind its write time."""

from __future__ import annotations

import json

import pytest
from tests.cli_run import run_cli

from gputwin.reliability import faults

SMALL = ["estimate", "train", "--model", "llama3-8b", "--gpu", "a100-sxm-80gb",
         "--num-gpus", "64", "--global-batch-size", "256", "--seq-len", "4096",
         "--failures", "--duration", "30d"]


def test_json_lists_each_rate_with_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*SMALL, "--json"], capsys)
    assert code == 0
    g = json.loads(out)["failures"]
    rates = g["fault_rates"]
    assert rates["rate_scale"] == 1.0
    assert rates["catalog"] == faults.rates_provenance()
    rows = faults.catalog()
    assert set(rates["models"]) == set(faults.default_names())
    for name, used in rates["models"].items():
        assert used["source"] == rows[name].source
        assert used["rate_per_unit_hour"] == rows[name].rate_per_unit_hour
    assert set(g["by_cause"]) == set(rates["models"])
    assert g["checkpoint_bytes"] == pytest.approx(14 * 8.03e9, rel=0.01)  # 14 B/param


def test_scaled_rates_say_by_how_much(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*SMALL, "--fault-rate-scale", "2.5", "--json"], capsys)
    assert code == 0
    rates = json.loads(out)["failures"]["fault_rates"]
    assert rates["rate_scale"] == 2.5
    gpu = rates["models"]["gpu"]
    catalog_rate = faults.catalog()["gpu"].rate_per_unit_hour
    assert gpu["rate_per_unit_hour"] == pytest.approx(2.5 * catalog_rate)
    assert gpu["source"].startswith("2.5 x the catalog rate (")


def test_text_names_the_rates_and_the_scale(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*SMALL, "--fault-rate-scale", "2.5"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert "fault rates" in flat and "x 2.5 (--fault-rate-scale)" in flat
    assert "Llama 3" in flat and " TB)" in flat


def test_checkpoint_bytes_per_param_sets_size_and_times(
        capsys: pytest.CaptureFixture[str]) -> None:
    """10 B/param (no fp32 master weights, as OPT-175B) shrinks the checkpoint, its write
    and its load by 10/14; the flag needs --failures and a positive number."""
    def failures(*flags: str) -> dict[str, float]:
        code, out, _ = run_cli([*SMALL, *flags, "--json"], capsys)
        assert code == 0
        g: dict[str, float] = json.loads(out)["failures"]
        return g

    full, lean = failures(), failures("--checkpoint-bytes-per-param", "10")
    assert lean["checkpoint_bytes"] == pytest.approx(full["checkpoint_bytes"] * 10 / 14)
    assert lean["checkpoint_write_s"] < full["checkpoint_write_s"]
    assert lean["checkpoint_load_s"] < full["checkpoint_load_s"]
    code, _, err = run_cli([a for a in SMALL if a not in ("--failures", "--duration", "30d")]
                           + ["--checkpoint-bytes-per-param", "10"], capsys)
    assert code == 2 and "--checkpoint-bytes-per-param without --failures" in err
    code, _, err = run_cli([*SMALL, "--checkpoint-bytes-per-param", "0"], capsys)
    assert code == 2 and "expected a finite number > 0" in err
