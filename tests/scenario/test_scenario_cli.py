"""Issue 15 item 10: `gputwin scenario list` and `gputwin scenario schema`."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from gputwin.cli.main import main
from gputwin.cli.scenario_cmd import scenario_schema
from gputwin.scenario.paths import SCENARIOS_DIR
from gputwin.yaml_io import load_yaml_with_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_list_names_every_bundled_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    main(["scenario", "list", "--json"])
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"]: r for r in rows}
    assert {p.stem for p in SCENARIOS_DIR.glob("*.yaml")} <= set(names)
    assert names["serve-default"]["kind"] == "serving" and names["default"]["kind"] == "cluster"
    assert all(names[p.stem]["description"] for p in SCENARIOS_DIR.glob("*.yaml"))


def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed")
    return _build(jsonschema)


@functools.cache
def _build(jsonschema: Any) -> Any:
    schema = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", sorted(SCENARIOS_DIR.glob("*.yaml"))
                         + sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_schema_accepts_every_bundled_and_example_scenario(path: Path) -> None:
    data, _ = load_yaml_with_lines(path)
    errors = [e.message for e in _validator().iter_errors(data)]
    assert not errors, errors[:3]


def test_schema_rejects_a_misspelt_key() -> None:
    data, _ = load_yaml_with_lines(SCENARIOS_DIR / "default.yaml")
    data["cluster"]["sytem"] = data["cluster"].pop("system")
    assert not _validator().is_valid(data)


def test_schema_command_writes_a_file(tmp_path: Path) -> None:
    main(["scenario", "schema", "--out", str(tmp_path / "s.json")])
    schema = json.loads((tmp_path / "s.json").read_text())
    assert schema["title"] == "gputwin scenario" and "$defs" in schema
