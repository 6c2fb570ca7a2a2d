"""``gputwin estimate tco``: the facade and the CLI (issue 14's acceptance command)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from gputwin.cli.main import cli, main
from gputwin.errors import DoesNotFitError
from gputwin.run.estimate_tco import estimate_tco, tco_request


def test_issue_command_returns_api_rent_and_own_with_break_even() -> None:
    res = CliRunner().invoke(cli, ["estimate", "tco", "--model", "llama3-70b",
                                   "--tokens-per-day", "2e9", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    kinds = {o["kind"] for o in d["options"]}
    assert kinds == {"api", "rent", "own"}
    for o in d["options"]:
        assert o["usd_per_million_tokens"] > 0 and o["monthly_usd"] > 0
        assert (o["gpus"] > 0) == (o["kind"] != "api")
    assert any(o.get("break_even_tokens_per_day") for o in d["options"])
    monthly = [o["monthly_usd"] for o in d["options"]]
    assert monthly == sorted(monthly)


def test_tighter_slo_needs_more_gpus() -> None:
    loose = estimate_tco(tco_request({"model": "llama3-8b", "tokens_per_day": 1e9}))
    tight = estimate_tco(tco_request({"model": "llama3-8b", "tokens_per_day": 1e9,
                                      "tpot_slo_s": 0.012}))
    own = {d["name"]: d for d in loose["options"]}["own"]
    own_t = {d["name"]: d for d in tight["options"]}["own"]
    assert own_t["gpus"] >= own["gpus"]
    assert tight["replica"]["tpot_s"] <= 0.012


def test_impossible_slo_is_a_clear_error() -> None:
    with pytest.raises(DoesNotFitError, match="TPOT"):
        estimate_tco(tco_request({"model": "llama3-70b", "tokens_per_day": 1e9,
                                  "tpot_slo_s": 0.001}))


def test_a_model_beyond_the_node_memory_says_memory_not_slo() -> None:
    """GLM-4.6 in BF16 (~660 GiB) exceeds 8 x 80 GB at every tp: the error names the
    memory need at the largest tp, not the SLOs (relaxing them would not help)."""
    with pytest.raises(DoesNotFitError) as info:
        estimate_tco(tco_request({"model": "glm-4.6", "tokens_per_day": 1e9,
                                  "gpu": "h100-sxm-80gb"}))
    text = str(info.value)
    assert "does not fit on h100-sxm-80gb" in text and "at tp 8" in text
    assert "TPOT" not in text and "--pp" not in text


def test_dataflow_part_sizes_a_pipeline_of_chips() -> None:
    d = estimate_tco(tco_request({"model": "llama3-70b", "tokens_per_day": 2e9,
                                  "gpu": "groq-lpu"}))
    own = {o["name"]: o for o in d["options"]}["own"]
    assert own["gpus"] >= 500  # the whole model sits in SRAM across hundreds of LPUs
    assert d["replica"]["tpot_s"] < 0.01


def test_text_table_fits_80_columns_without_cutting_values() -> None:
    """At the default 80 columns every option's row is whole: no cell is cut short with
    an ellipsis, and GPU options show their break-even volume and hourly rate."""
    res = CliRunner().invoke(cli, ["estimate", "tco", "--model", "llama3-70b",
                                   "--tokens-per-day", "2e9"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "…" not in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    own = next(line for line in res.output.splitlines() if line.strip().startswith("own "))
    assert "/h" in own and re.search(r"\d(\.\d+)?e\d+ |never", own)


def test_slos_are_durations_as_in_the_other_serving_commands(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["estimate", "tco", "--model", "llama3-8b", "--tokens-per-day", "1e9", "--json"]
    runs = [CliRunner().invoke(cli, [*args, "--tpot-slo", v, "--ttft-slo", t])
            for v, t in (("12ms", "1s"), ("0.012", "1"))]
    assert all(r.exit_code == 0 for r in runs), [r.output for r in runs]
    a, b = (json.loads(r.output) for r in runs)
    assert a["replica"] == b["replica"] and a["replica"]["tpot_s"] <= 0.012
    with pytest.raises(SystemExit) as info:
        main([*args, "--tpot-slo", "0"])
    assert info.value.code == 2
    assert "--tpot-slo: " in capsys.readouterr().err  # the flag, not the field name


def test_model_no_api_serves_prints_a_table_without_break_even() -> None:
    """A model no public API in the price book lists (GLM-4.5-Air when this was written)
    has no break-even volume: the text table leaves the column blank (it crashed on the
    missing value)."""
    res = CliRunner().invoke(cli, ["estimate", "tco", "--model", "glm-4.5-air",
                                   "--tokens-per-day", "2e9", "--gpu", "h200-sxm-141gb"])
    assert res.exit_code == 0, res.output
    assert "own " in res.output


def test_break_even_column_blank_never_or_volume() -> None:
    from gputwin.cli.estimate_tco import _break_even

    assert _break_even({"kind": "api"}) == ""
    assert _break_even({"kind": "own"}) == ""  # no API to break even against
    assert _break_even({"kind": "rent", "break_even_tokens_per_day": None}) == "never"
    assert _break_even({"kind": "own", "break_even_tokens_per_day": 2.85e8}) == "2.85e8"
