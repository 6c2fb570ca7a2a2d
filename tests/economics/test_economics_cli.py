"""``gputwin economics``: apis, owned, supply."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tests.cli_run import run_cli

from gputwin.cli.main import cli
from gputwin.energy.tables import default_tables


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["economics", *args])
    return res.exit_code, res.output


def test_apis_filter_by_model() -> None:
    code, out = _run("apis", "--model", "llama3-70b", "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows and all("llama3-70b" in r["models"] and r["source"] for r in rows)


def test_owned_lists_every_catalog_part_with_a_rental() -> None:
    code, out = _run("owned", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) >= 19
    book = default_tables().price_book.accelerators
    for r in rows:
        rentable = bool(book[r["accelerator"]].usd_per_gpu_hour)  # embedded parts: bought only
        assert r["usd_per_gpu_hour"] > 0 and (r["cheapest_rental"] is not None) == rentable


def test_apis_table_cuts_no_cell_on_a_narrow_terminal() -> None:
    res = CliRunner().invoke(cli, ["economics", "apis"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "…" not in res.output and "together/llama-3.1-70b-turbo" in res.output


def test_owned_table_cuts_no_cell_on_a_narrow_terminal() -> None:
    """At 80 columns the table keeps every cell whole (lines wrap instead), so each
    rental's provider and pricing stay readable."""
    res = CliRunner().invoke(cli, ["economics", "owned"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "…" not in res.output
    assert "(neocloud/" in res.output and "h100-sxm-80gb" in res.output


def test_supply_with_ppa_and_battery() -> None:
    code, out = _run("supply", "--load-mw", "100", "--ppa", "solar-pv:150",
                     "--ppa", "wind-onshore:150:55", "--battery-mwh", "400",
                     "--battery-mw", "100", "--json")
    assert code == 0, out
    d = json.loads(out)
    assert d["co2e_market_hourly_g"] < d["co2e_location_g"]
    assert 0 < d["cfe_score_frac"] < 1


def test_supply_bad_spec_names_the_option() -> None:
    res = CliRunner().invoke(cli, ["economics", "supply", "--load-mw", "1", "--ppa", "solar"])
    assert res.exit_code != 0
    assert "--ppa" in str(res.exception) or "--ppa" in res.output


@pytest.mark.parametrize(("args", "message"), [
    (["--ppa", "solar-pv:150:20:9"], "--ppa: expected TECH:MW[:USD_PER_MWH]"),  # was accepted
    (["--ppa", "nope:150"], "--ppa nope:150: unknown generation technology 'nope'"),
    (["--onsite", "nope:5"], "--onsite nope:5: unknown generation technology"),
    (["--ppa", "solar-pv:-5"], "--ppa solar-pv:-5: expected a capacity in MW >= 0, got '-5'"),
    # half a battery: --battery-mwh alone was billed and never discharged,
    # --battery-mw alone was dropped without a word
    (["--battery-mwh", "400"], "a battery needs both"),
    (["--battery-mw", "100"], "a battery needs both"),
])
def test_supply_bad_flags_exit_2_naming_them(args: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["economics", "supply", "--load-mw", "100", *args], capsys)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_distill_cli() -> None:
    code, out = _run("distill", "--teacher", "llama3-70b", "--student", "llama3-8b",
                     "--tokens-per-day", "2e9", "--json")
    assert code == 0, out
    d = json.loads(out)
    assert d["teacher_usd_per_million_tokens"] > d["student_usd_per_million_tokens"] > 0
    assert d["payback_days"] is not None and d["payback_days"] > 0
    # energy through the same owned fleets: the student serves a token for less energy
    assert d["teacher_kwh_per_million_tokens"] > d["student_kwh_per_million_tokens"] > 0
    assert d["generation_kwh"] > 0 and d["training_kwh"] > 0
    assert d["energy_payback_days"] > 0


def test_distill_cli_prices_what_it_burns() -> None:
    """Training is priced at the owned rate of the power it is charged energy for (full
    activity), and generated tokens at the teacher's cost per *output* token."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.economics.tco import OwnedAssumptions, owned_cost
    from gputwin.topology.hardware import resolve_hardware

    code, out = _run("distill", "--teacher", "llama3-70b", "--student", "llama3-8b",
                     "--tokens-per-day", "1e9", "--distill-tokens", "1e9", "--json")
    assert code == 0, out
    d = json.loads(out)
    hw = resolve_hardware(default_catalog(), gpu="h100-sxm-80gb")
    full = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(activity_frac=1.0))
    assert d["training_usd"] == pytest.approx(d["training_gpu_hours"] * full.usd_per_gpu_hour)
    assert d["training_kwh"] == pytest.approx(
        d["training_gpu_hours"] * full.it_power_w * float(full.assumptions["pue"]) / 1e3)
    served_per_generated = (1024 + 256) / 256  # the default request shape of estimate tco
    assert d["generation_usd"] == pytest.approx(
        1e9 * served_per_generated * d["teacher_usd_per_million_tokens"] / 1e6)
    assert d["generation_kwh"] == pytest.approx(
        1e9 * served_per_generated * d["teacher_kwh_per_million_tokens"] / 1e6)
