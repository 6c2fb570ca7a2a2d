"""Issue 15 item 10: a user catalog file merged over the bundled one (--catalog, catalog:)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gputwin.catalog.loader import CATALOG_ENV, default_catalog
from gputwin.cli.main import main, take_catalog_options

MY_MODEL = """\
models:
  - name: my-llama-9b
    family: llama3
    description: a made-up Llama 3 variant
    num_layers: 36
    hidden_size: 4096
    num_attention_heads: 32
    num_kv_heads: 8
    ffn_hidden_size: 14336
    vocab_size: 128256
    max_seq_len: 8192
    mlp_kind: swiglu
    tied_embeddings: false
    source: test fixture (not a real model)
"""


@pytest.fixture(autouse=True)
def _no_user_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOG_ENV, "")


def _write(tmp_path: Path, text: str, name: str = "my-parts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_catalog_option_is_taken_anywhere() -> None:
    files, rest = take_catalog_options(["estimate", "--catalog", "a.yaml", "train",
                                        "--catalog=b.yaml", "--", "--catalog"])
    assert files == ["a.yaml", "b.yaml"] and rest == ["estimate", "train", "--", "--catalog"]


def test_cli_catalog_adds_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, MY_MODEL)
    base = ["estimate", "train", "--gpu", "h100-sxm-80gb", "--num-gpus", "8", "--tp", "2",
            "--global-batch-size", "64", "--json"]
    main([*base, "--model", "llama3-8b"])
    bundled = json.loads(capsys.readouterr().out)
    main([*base, "--model", "my-llama-9b", "--catalog", str(path)])
    mine = json.loads(capsys.readouterr().out)
    assert mine["step_time_s"] > bundled["step_time_s"]  # 36 layers instead of 32
    assert "my-llama-9b" in default_catalog().models
    assert "llama3-8b" in default_catalog().models  # bundled entries stay


def test_scenario_catalog_key(tmp_path: Path) -> None:
    _write(tmp_path, MY_MODEL)
    scenario = _write(tmp_path, """\
name: mine
catalog: my-parts.yaml
serving:
  services: [{name: default, model: my-llama-9b, gpu: h100-sxm-80gb}]
  workload: [{kind: synthetic, num_requests: 20, arrival: {rate: 5}}]
""", "serve.yaml")
    main(["simulate", str(scenario), "--quiet", "--out", str(tmp_path / "o")])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["services"]["default"]["model"] == "my-llama-9b"


def test_bad_user_entry_names_file_and_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, MY_MODEL.replace("num_layers: 36", "num_layers: -1"))
    with pytest.raises(SystemExit) as info:
        main(["--catalog", str(path), "catalog", "list"])
    assert info.value.code == 2
    assert "my-parts.yaml:5: models[0].num_layers" in capsys.readouterr().err


def test_user_entry_replaces_a_bundled_one(tmp_path: Path) -> None:
    from gputwin.catalog.loader import use_user_catalogs

    text = MY_MODEL.replace("my-llama-9b", "llama3-8b").replace("num_layers: 36",
                                                                 "num_layers: 40")
    catalog = use_user_catalogs([_write(tmp_path, text)])
    assert catalog.model("llama3-8b").num_layers == 40


def test_user_system_naming_a_missing_accelerator_fails_at_load(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, """\
systems:
  - name: my-sys
    accelerator: nosuch-gpu
    num_accelerators: 8
    scale_up_domain_size: 8
    num_nics: 8
    nic_bandwidth_bytes_per_s: 400Gbps
    scale_out_fabric: ib-ndr
    host_power_w: 4kW
    max_power_w: 10kW
    source: test fixture (not a real system)
""")
    with pytest.raises(SystemExit) as info:
        main(["--catalog", str(path), "catalog", "list"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert ("my-parts.yaml:3: systems[0].accelerator of system 'my-sys': unknown accelerator "
            "'nosuch-gpu'") in err
