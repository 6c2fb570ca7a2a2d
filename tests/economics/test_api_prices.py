"""The dated API price list (economics/data/api_prices.yaml): catalog names, the newest
reading per provider, retired endpoints, and what `estimate tco` compares."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from gputwin.catalog.loader import default_catalog
from gputwin.cli.main import cli
from gputwin.economics.tables import (
    ApiPrice,
    api_price,
    api_prices,
    api_status,
    apis_for_model,
    current_listings,
)
from gputwin.run.estimate_tco import estimate_tco, tco_request


def _api(name: str, provider: str, as_of: str, models: tuple[str, ...] = ("m",),
         retired: str | None = None) -> ApiPrice:
    return ApiPrice(name=name, provider=provider, kind="open-model host", models=list(models),
                    usd_per_million_input=0.1, usd_per_million_output=0.2, as_of=as_of,
                    retired=retired, source="https://example.com/pricing")


@pytest.mark.parametrize("api", api_prices(), ids=lambda a: a.name)
def test_every_models_name_is_a_catalog_model(api: ApiPrice) -> None:
    catalog = default_catalog().models
    assert all(m in catalog for m in api.models), [m for m in api.models if m not in catalog]
    assert api.source.startswith(("http", "Cerebras Inference launch"))


def test_newest_reading_of_a_provider_supersedes_its_older_ones() -> None:
    old = _api("p/old", "P", "2024-10")
    new = _api("p/new", "P", "2026-06")
    twin = _api("p/twin", "P", "2026-06")  # a second endpoint read the same month
    other = _api("q/old", "Q", "2024-10")
    unrelated = _api("p/other-model", "P", "2027-01", models=("n",))
    got = current_listings([old, new, twin, other, unrelated], "m")
    assert [a.name for a in got] == ["p/new", "p/twin", "q/old"]


def test_a_retired_newest_reading_does_not_bring_the_older_one_back() -> None:
    old = _api("p/old", "P", "2024-10")
    gone = _api("p/gone", "P", "2025-11", retired="2026-02")
    assert current_listings([old, gone], "m") == []
    assert current_listings([_api("p/x", "P", "2024-10", retired="2025-01")], "m") == []


def test_retired_before_the_reading_is_refused() -> None:
    with pytest.raises(ValidationError, match="retired 2024-01 is before as_of 2024-10"):
        _api("p/x", "P", "2024-10", retired="2024-01")


def test_status_of_real_readings() -> None:
    assert api_status(api_price("deepseek/deepseek-chat")) == "retired 2025-09"
    assert api_status(api_price("cerebras/llama-3.1-70b")) == "retired 2025-01"
    assert api_status(api_price("groq/gpt-oss-120b")) == "current"
    assert api_status(api_price("openai/gpt-4o")) == "current"  # closed: reference only
    # the Oct 2024 Together reading of Llama 3.1 70B gave way to its Jul 2025 re-reading
    assert api_status(api_price("together/llama-3.1-70b-turbo")) == "superseded"
    together = [a.name for a in apis_for_model("llama3-70b") if a.provider == "Together AI"]
    assert together == ["together/llama-3.1-70b@2025"]
    names = {a.name for a in apis_for_model("llama3.3-70b")}
    assert "groq/llama-3.3-70b-versatile" not in names  # decommissioned Aug 2026
    assert "groq/llama-3.3-70b-versatile" in {
        a.name for a in apis_for_model("llama3.3-70b", history=True)}


@pytest.mark.parametrize("model", [
    "gpt-oss-120b", "gpt-oss-20b", "llama3.3-70b", "llama4-scout", "llama4-maverick",
    "qwen3-32b", "qwen3-235b-a22b", "qwen3-coder-480b-a35b", "deepseek-v3", "deepseek-r1",
    "kimi-k2", "glm-4.5", "glm-4.6", "glm-4.5-air", "gemma3-27b", "mistral-nemo-12b",
    "mistral-small-24b-2501"])
def test_current_open_models_have_a_dated_api(model: str) -> None:
    apis = apis_for_model(model)
    assert apis, f"no current API listing serves {model}"
    assert all(a.retired is None and a.as_of >= "2025-01" for a in apis)
    providers = [a.provider for a in apis]
    assert len({(a.provider, a.as_of) for a in apis}) == len(set(providers))  # one reading


def test_tco_compares_the_current_listings_and_breaks_even_against_the_cheapest() -> None:
    d = estimate_tco(tco_request({"model": "gpt-oss-120b", "tokens_per_day": 2e9}))
    api_names = {o["name"] for o in d["options"] if o["kind"] == "api"}
    assert api_names == {a.name for a in apis_for_model("gpt-oss-120b")}
    assert len(api_names) >= 5
    cheapest = min((o for o in d["options"] if o["kind"] == "api"),
                   key=lambda o: o["monthly_usd"])
    assert d["break_even_against"] == cheapest["name"]
    assert all("break_even_tokens_per_day" in o for o in d["options"] if o["kind"] != "api")


def test_cli_lists_every_reading_with_its_status() -> None:
    res = CliRunner().invoke(cli, ["economics", "apis", "--model", "deepseek-v3", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r["status"] for r in json.loads(res.output)}
    assert rows["deepseek/deepseek-chat"] == "retired 2025-09"
    assert rows["together/deepseek-v3"] == "current"
    res = CliRunner().invoke(cli, ["economics", "apis", "--model", "deepseek-v3", "--current",
                                   "--json"])
    assert {r["name"] for r in json.loads(res.output)} == {
        a.name for a in apis_for_model("deepseek-v3")}
