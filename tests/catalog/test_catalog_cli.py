"""``gputwin catalog list|show``: output, JSON, exit codes and suggestions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_all_sections(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "list")
    assert code == 0
    for name in ("h100-sxm-80gb", "dgx-b200", "lustre", "llama3.1-405b", "nvlink4"):
        assert name in out
    assert "BF16 TFLOP/s" in out and "989.4" in out


@pytest.mark.parametrize("alias", ["accelerators", "gpus", "system", "models", "storage"])
def test_list_section_aliases(capsys: pytest.CaptureFixture[str], alias: str) -> None:
    code, out, _ = run(capsys, "catalog", "list", alias)
    assert code == 0 and out.strip()


def test_list_json_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "list", "accelerators", "--json")
    assert code == 0
    data = json.loads(out)
    names = {entry["name"] for entry in data["accelerators"]}
    assert names == set(default_catalog().accelerators)
    h100 = next(e for e in data["accelerators"] if e["name"] == "h100-sxm-80gb")
    assert h100["memory_bytes"] == 80 * 2**30  # SI floats, not human strings


def test_show_prints_fields_units_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "show", "h100-sxm-80gb")
    assert code == 0
    assert "80 GiB" in out and "3.35 TB/s" in out and "700 W" in out and "450 GB/s" in out
    assert "datasheet" in out  # the citation
    assert "idle_w" in out and "estimate" in out  # per-field source override


def test_show_model_json_has_params(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "show", "mixtral-8x7b", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["section"] == "models"
    assert data["derived"]["total_params"] == pytest.approx(46.7e9, rel=0.01)
    assert data["sources"]["num_layers"].startswith("mistralai/Mixtral-8x7B")


def test_show_hf_config_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100,
        "max_position_embeddings": 256}))
    code, out, _ = run(capsys, "catalog", "show", str(folder))
    assert code == 0 and "tiny" in out and "total_params" in out


def test_unknown_name_suggests_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "catalog", "show", "h100-sxm")
    assert code == 2 and not out
    assert err.startswith("error:") and "did you mean" in err and "h100-sxm-80gb" in err
    assert "Traceback" not in err


def test_unknown_section_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "catalog", "list", "gpuz")
    assert code == 2 and "unknown catalog section" in err


def test_cli_module_does_not_import_rich_eagerly() -> None:
    probe = ("import sys, gputwin.cli.main, gputwin.cli.catalog_cmd; "
             "print('rich' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_every_catalog_section_is_listed_with_its_columns() -> None:
    """A new section in the loader needs its table in `catalog list` (else it crashes)."""
    from gputwin.catalog.loader import SECTIONS
    from gputwin.cli.catalog_cmd import _COLUMNS, _SECTION_ORDER

    assert set(_SECTION_ORDER) == set(SECTIONS) == set(_COLUMNS)


def test_every_listed_accelerator_has_rental_and_capex_with_source() -> None:
    """Issue 14's check: `catalog list` shows a rental price and a capex entry, with its
    source, for every accelerator."""
    import json

    from click.testing import CliRunner

    from gputwin.cli.main import cli

    res = CliRunner().invoke(cli, ["catalog", "list", "accelerators", "--json"])
    assert res.exit_code == 0, res.output
    accels = json.loads(res.output)["accelerators"]
    assert accels
    for a in accels:
        price = a["price"]
        rents = [usd for by in price["usd_per_gpu_hour"].values() for usd in by.values()]
        assert rents and all(usd > 0 for usd in rents), a["name"]
        assert price["capex_usd_per_gpu"] > 0 and len(price["source"]) > 40 and price["as_of"]
    table = CliRunner().invoke(cli, ["catalog", "list", "accelerators"])
    assert "rent $/GPU-h" in table.output and "capex $/GPU" in table.output
