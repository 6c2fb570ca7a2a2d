"""Video/image generation API prices (economics/data/video_api_prices.yaml) and the build vs
buy comparison of ``gputwin estimate video``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gputwin.cli.main import cli
from gputwin.economics.tables import (
    VideoApiPriceList,
    load_api_list,
    video_api_prices,
    video_apis_for_model,
)
from gputwin.errors import InputError
from gputwin.perf.diffusion import diffusion_table


def test_every_entry_is_dated_sourced_priced_and_names_catalog_models() -> None:
    apis = video_api_prices()
    assert len(apis) >= 10
    dits = set(diffusion_table().models)
    for a in apis:
        assert a.as_of and len(a.source) > 20, a.name
        assert (a.usd_per_video_second is None) != (a.usd_per_image is None), a.name
        assert set(a.models) <= dits, a.name
        assert (a.kind == "open-model host") == bool(a.models), a.name
    kinds = {a.kind for a in apis}
    assert {"open-model host", "closed model"} <= kinds


def test_hosts_and_closed_models_are_split_and_sorted_by_price() -> None:
    same, closed = video_apis_for_model("wan2.1-14b", image=False)
    assert same and all("wan2.1-14b" in a.models for a in same)
    assert closed and all(a.kind != "open-model host" and not a.models for a in closed)
    prices = [a.usd_per_video_second for a in closed]
    assert prices == sorted(p for p in prices if p is not None)
    images, closed_images = video_apis_for_model("flux.1-dev", image=True)
    assert images and all(a.usd_per_image for a in images)
    assert all(a.usd_per_image for a in closed_images)
    assert video_apis_for_model("cogvideox-2b", image=False)[0] == []


_GOOD = """\
apis:
  - name: host/model
    provider: Host
    kind: open-model host
    models: [wan2.1-14b]
    usd_per_video_second: 0.08
    resolution: 720p
    as_of: "2026-05"
    source: "https://example.com/pricing, read May 2026"
"""


def _load(tmp_path: Path, text: str) -> InputError:
    path = tmp_path / "video_api_prices.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_api_list(path, VideoApiPriceList)
    assert str(path) in str(err.value)
    return err.value


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(_GOOD)
    (api,) = load_api_list(path, VideoApiPriceList)
    assert api.usd_per_video_second == 0.08 and api.retired is None


def test_missing_date_names_the_field_and_line(tmp_path: Path) -> None:
    err = _load(tmp_path, _GOOD.replace('    as_of: "2026-05"\n', ""))
    assert "apis[0].as_of" in str(err) and "required" in str(err)
    assert err.where is not None and err.where.endswith(":2")  # the entry's line


def test_bad_date_kind_and_prices_are_named(tmp_path: Path) -> None:
    err = _load(tmp_path, _GOOD.replace('"2026-05"', '"May 2026"'))
    assert "apis[0].as_of" in str(err) and (err.where or "").endswith(":8")
    err = _load(tmp_path, _GOOD.replace("kind: open-model host", "kind: open host"))
    assert "apis[0].kind" in str(err) and (err.where or "").endswith(":4")
    err = _load(tmp_path, _GOOD.replace("resolution:", "usd_per_image: 0.01\n    resolution:"))
    assert "usd_per_video_second" in str(err) and "usd_per_image" in str(err)
    err = _load(tmp_path, _GOOD.replace("    models: [wan2.1-14b]\n", ""))
    assert "models" in str(err)
    err = _load(tmp_path, _GOOD.replace("usd_per_video_second: 0.08", "usd_per_second: 0.08"))
    assert "usd_per_second" in str(err) and "unknown field" in str(err)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    err = _load(tmp_path, _GOOD + _GOOD.removeprefix("apis:\n"))
    assert "duplicate" in str(err) and "host/model" in str(err)


def _estimate(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(cli, ["estimate", "video", *args, "--json"])
    assert res.exit_code == 0, res.output
    out: dict[str, Any] = json.loads(res.output)
    return out


def test_estimate_video_compares_with_the_hosts_of_the_same_model() -> None:
    out = _estimate("--model", "wan2.1-14b")
    per_s = out["cost_usd_per_video_second"]
    assert isinstance(per_s, float) and isinstance(out["cost_usd"], float)
    assert per_s == pytest.approx(out["cost_usd"] / (81 / 16))  # native 81 frames at 16 fps
    apis = out["apis"]
    assert isinstance(apis, list) and apis
    by_name = {a["name"]: a for a in apis}
    fal = by_name["fal/wan-2.1-t2v"]
    assert fal["usd_per_video_second"] == pytest.approx(0.40 / (81 / 16), abs=5e-4)
    for a in apis:
        assert {"name", "kind", "usd_per_video_second", "resolution", "as_of", "source"} <= set(a)
        assert a["kind"] == "open-model host"
        assert a["ratio_to_self_hosted"] == pytest.approx(a["usd_per_video_second"] / per_s)
    ref = out["reference_apis"]
    assert isinstance(ref, list) and ref and all(a["kind"] != "open-model host" for a in ref)
    assert all(a["ratio_to_self_hosted"] == pytest.approx(a["usd_per_video_second"] / per_s)
               for a in ref)


def test_the_comparison_follows_the_rental_price() -> None:
    cheap = _estimate("--model", "wan2.1-14b", "--provider", "marketplace")
    dear = _estimate("--model", "wan2.1-14b", "--provider", "hyperscaler")
    ratio = {s: {a["name"]: a["ratio_to_self_hosted"] for a in o["apis"]}
             for s, o in (("cheap", cheap), ("dear", dear))}
    assert ratio["cheap"]["fal/wan-2.1-t2v"] > ratio["dear"]["fal/wan-2.1-t2v"]


def test_an_owned_sample_pays_its_power_a_rented_one_does_not() -> None:
    """The owned rate bills energy apart, so an owned sample adds its power bill (IT power at
    full activity x PUE x price of tco.yaml); a rental's price already pays for it."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.energy.tco import OwnedAssumptions, owned_cost
    from gputwin.topology.hardware import resolve_hardware

    owned = _estimate("--model", "wan2.1-14b", "--provider", "owned")
    hw = resolve_hardware(default_catalog(), gpu="h100-sxm-80gb")
    full = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(activity_frac=1.0))
    power_usd_h = full.it_power_w * float(full.assumptions["pue"]) / 1e6 * float(
        full.assumptions["electricity_usd_per_mwh"])
    assert owned["cost_energy_usd"] == pytest.approx(owned["gpu_seconds"] / 3600 * power_usd_h)
    assert owned["cost_usd"] == pytest.approx(owned["cost_compute_usd"]
                                              + owned["cost_energy_usd"])
    assert "power" in owned["cost_basis"] and "billed apart" not in owned["cost_basis"]
    rented = _estimate("--model", "wan2.1-14b", "--provider", "neocloud")
    assert rented["cost_energy_usd"] == 0.0
    assert rented["cost_usd"] == rented["cost_compute_usd"]


def test_a_model_without_a_host_gets_an_empty_list() -> None:
    out = _estimate("--model", "cogvideox-2b")
    assert out["apis"] == []
    assert out["reference_apis"]  # closed models still shown for reference
    res = CliRunner().invoke(cli, ["estimate", "video", "--model", "cogvideox-2b"])
    assert res.exit_code == 0 and "none listed serving cogvideox-2b" in res.output


def test_a_cheap_model_prints_price_ratios_in_plain_digits() -> None:
    """A small DiT costs a fraction of a closed API's price: ratios of 100x and more read
    as whole numbers, not in exponent notation."""
    out = _estimate("--model", "ltx-video-2b")
    assert max(r["ratio_to_self_hosted"] for r in out["reference_apis"]) >= 100
    text = CliRunner().invoke(cli, ["estimate", "video", "--model", "ltx-video-2b"]).output
    api_lines = [ln for ln in text.splitlines() if "/s " in ln]
    assert api_lines and not any("e+" in ln for ln in api_lines)


def test_an_image_is_compared_per_image() -> None:
    out = _estimate("--model", "flux.1-dev")
    assert out["cost_usd_per_video_second"] is None
    (fal,) = out["apis"]
    assert fal["usd_per_video_second"] is None and fal["usd_per_image"] > 0
    assert fal["ratio_to_self_hosted"] == pytest.approx(fal["usd_per_image"] / out["cost_usd"])
    assert out["reference_apis"] == []
    text = CliRunner().invoke(cli, ["estimate", "video", "--model", "flux.1-dev"]).output
    assert "fal/flux.1-dev" in text and "/image" in text


def test_text_output_is_short_and_leaves_retired_apis_out() -> None:
    res = CliRunner().invoke(cli, ["estimate", "video", "--model", "wan2.1-14b"])
    assert res.exit_code == 0
    assert "serving wan2.1-14b:" in res.output and "fal/wan-2.1-t2v" in res.output
    assert "closed models, for reference:" in res.output
    retired = [a.name for a in video_api_prices() if a.retired]
    assert retired and not any(name in res.output for name in retired)
    assert len(res.output.splitlines()) <= 20


def test_an_image_costs_its_digits_not_zero_and_says_its_basis() -> None:
    """A FLUX image costs a fraction of a cent: the text shows three significant digits
    (the JSON figure), not $0.00 beside an API priced at 6x it, with its cost basis; a
    compiled run says so on its first line."""
    args = ["estimate", "video", "--model", "flux.1-dev"]
    cost = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)["cost_usd"]
    assert cost < 0.01
    text = CliRunner().invoke(cli, args).output
    assert f"${cost:.3g} per sample (rental: " in text and "$0.00 per" not in text
    first = CliRunner().invoke(cli, [*args, "--compiled"]).output.splitlines()[0]
    assert "(compiled)" in first
