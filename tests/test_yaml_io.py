from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gputwin.cli.main import main
from gputwin.errors import InputError
from gputwin.limits import MAX_YAML_ALIAS_VALUES
from gputwin.yaml_io import (
    load_yaml_with_lines,
    parse_yaml_value,
    parse_yaml_with_lines,
    validation_error_to_input_error,
)


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(gt=0)


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Inner]


def test_lines_are_recorded_for_nested_keys() -> None:
    data, lines = parse_yaml_with_lines("a:\n  b:\n    - x: 1\n    - x: 2\n", "f.yaml")
    assert data == {"a": {"b": [{"x": 1}, {"x": 2}]}}
    assert lines[("a", "b", 1, "x")] == 4


def test_validation_error_names_line_and_field() -> None:
    text = "items:\n  - size: 3\n  - size: -4\n"
    data, lines = parse_yaml_with_lines(text, "s.yaml")
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate(data)
    err = validation_error_to_input_error(info.value, "s.yaml", lines)
    assert str(err).startswith("s.yaml:3: items[1].size:")
    assert "-4" in str(err)


def test_unknown_field_reported_as_such() -> None:
    data, lines = parse_yaml_with_lines("items:\n  - size: 3\n    colour: red\n", "s.yaml")
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate(data)
    assert str(
        validation_error_to_input_error(info.value, "s.yaml", lines)
    ) == "s.yaml:3: items[0].colour: unknown field"


def test_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: 1\nb: [unclosed\nc: 2\n")
    with pytest.raises(InputError, match=r"broken\.yaml:\d+: invalid YAML"):
        load_yaml_with_lines(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_yaml_with_lines(tmp_path / "nope.yaml")


class _Union(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_gpus: int | list[Annotated[int, Field(gt=0)]] = Field(default=1)
    name: str


def test_union_error_points_at_the_member_the_user_meant() -> None:
    data, lines = parse_yaml_with_lines("name: a\nnum_gpus: [-8, 16]\n", "u.yaml")
    with pytest.raises(ValidationError) as info:
        _Union.model_validate(data)
    msg = str(validation_error_to_input_error(info.value, "u.yaml", lines))
    assert msg.startswith("u.yaml:2: num_gpus[0]: Input should be greater than 0 (got -8)")


def test_misspelt_key_reported_before_the_missing_one() -> None:
    data, lines = parse_yaml_with_lines("nmae: a\n", "u.yaml")
    with pytest.raises(ValidationError) as info:
        _Union.model_validate(data)
    msg = str(validation_error_to_input_error(info.value, "u.yaml", lines))
    assert msg.startswith("u.yaml:1: nmae: unknown field")


def test_unit_errors_name_the_field_and_quote_the_value_once() -> None:
    from gputwin.quantities import Seconds

    class _Timed(BaseModel):
        wait: Seconds

    data, lines = parse_yaml_with_lines("wait: fast\n", "t.yaml")
    with pytest.raises(ValidationError) as info:
        _Timed.model_validate(data)
    msg = str(validation_error_to_input_error(info.value, "t.yaml", lines))
    assert msg.startswith("t.yaml:1: wait: expected a duration")
    assert msg.count("'fast'") == 1


def test_duplicate_key_is_refused_with_both_lines() -> None:
    text = "name: a\nscheduler: {policy: fifo}\nseed: 1\nscheduler: {policy: sjf}\n"
    with pytest.raises(InputError, match=r"^d\.yaml:4: scheduler: duplicate key "
                                         r"\(first given on line 2\)"):
        parse_yaml_with_lines(text, "d.yaml")


def test_duplicate_nested_key_names_the_full_path() -> None:
    text = "cluster:\n  num_nodes: 4\n  num_nodes: 8\n"
    with pytest.raises(InputError, match=r"d\.yaml:3: cluster\.num_nodes: duplicate key"):
        parse_yaml_with_lines(text, "d.yaml")


def test_same_key_in_different_mappings_is_fine() -> None:
    data, _ = parse_yaml_with_lines("a: {x: 1}\nb: {x: 2}\nl: [{x: 1}, {x: 2}]\n", "d.yaml")
    assert data["b"]["x"] == 2


def test_non_utf8_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: a\n# café\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.yaml:2: not a UTF-8 text file \(byte 0xe9"):
        load_yaml_with_lines(path)


def _alias_bomb(levels: int, width: int = 9) -> str:
    """``a0: &a0 [x, ...]``, then each level a list of ``width`` uses of the one before:
    ``width ** levels`` values from a few lines ("billion laughs")."""
    rows = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels + 1):
        rows.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(rows) + "\n"


def _merge_bomb(levels: int) -> str:
    """Merge keys that double a mapping's key list at each level (``<<: [*a, *a]``)."""
    rows = ["a0: &a0 {x: 1, y: 2}"]
    rows += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, levels + 1)]
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("text", [_alias_bomb(9), _merge_bomb(40)])
def test_alias_bomb_refused_quickly_naming_file_and_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"bomb\.yaml:\d+: too many YAML aliases") as info:
        load_yaml_with_lines(path)
    assert time.perf_counter() - start < 5.0
    assert f"{MAX_YAML_ALIAS_VALUES.value:,} values" in str(info.value)


def test_aliases_within_the_limit_still_load() -> None:
    data, _ = parse_yaml_with_lines(_alias_bomb(3), "ok.yaml")  # 9**3 = 729 values
    assert len(data["a3"]) == 9 and data["a3"][8][8][8] == ["x"] * 9
    data, _ = parse_yaml_with_lines("base: &b {size: 1}\nitem: {<<: *b, name: n}\n", "m.yaml")
    assert data["item"] == {"size": 1, "name": "n"}


def test_recursive_alias_refused() -> None:
    with pytest.raises(InputError, match=r"^r\.yaml:2: YAML alias refers to a value that "
                                         r"contains it"):
        parse_yaml_with_lines("x: 1\na: &a [1, *a]\n", "r.yaml")


def test_option_values_follow_the_same_rule() -> None:
    assert parse_yaml_value("[1, 2]", "--set k=v") == [1, 2]
    with pytest.raises(InputError, match=r"^--set k=v: too many YAML aliases"):
        parse_yaml_value(_alias_bomb(7).replace("\n", ", ").join("{}"), "--set k=v")


@pytest.mark.parametrize("command", [["simulate"], ["compare"], ["catalog-overlay"]])
def test_every_yaml_reading_command_refuses_a_bomb(tmp_path: Path, command: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(9))
    args = (["--catalog", str(path), "catalog", "list"] if command == ["catalog-overlay"]
            else [*command, str(path), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "bomb.yaml:" in err and "too many YAML aliases" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
class _Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: int
    high: int
    note: str | None = Field(default=None, validate_default=True)

    @model_validator(mode="after")
    def _ordered(self) -> _Pair:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self

    @field_validator("note")
    @classmethod
    def _note_needed_when_equal(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("low") == info.data.get("high"):
            raise ValueError("give a note when low equals high")
        return value


class _Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pair: _Pair


@pytest.mark.parametrize(
    ("text", "expected"),
    [("pair:\n  low: 5\n  high: 1\n", "p.yaml:1: pair: high must be >= low"),
     ("pair:\n  low: 5\n  high: 5\n", "p.yaml:1: pair: give a note when low equals high")],
    ids=["cross-field-rule", "absent-default"],
)
def test_a_rule_over_a_whole_section_does_not_dump_it(text: str, expected: str) -> None:
    data, lines = parse_yaml_with_lines(text, "p.yaml")
    with pytest.raises(ValidationError) as info:
        _Holder.model_validate(data)
    assert str(validation_error_to_input_error(info.value, "p.yaml", lines)) == expected


def test_a_null_the_file_gives_is_quoted() -> None:
    data, lines = parse_yaml_with_lines("name: a\nnum_gpus: null\n", "u.yaml")
    with pytest.raises(ValidationError) as info:
        _Union.model_validate(data)
    assert "(got None)" in str(validation_error_to_input_error(info.value, "u.yaml", lines))


def test_an_option_not_given_is_not_quoted_as_none() -> None:
    """Data built from command-line options passes None for an option left out: the error
    names the option, and '(got None)' would read as if the user had typed it."""
    with pytest.raises(ValidationError) as info:
        _Union.model_validate({"name": "a", "num_gpus": None})
    error = validation_error_to_input_error(info.value, "options", flag_of=lambda _: "--gpus")
    assert error.where == "--gpus"
    assert "got None" not in str(error)


def test_timestamps_stay_text() -> None:
    """`start: 2023-03-01` was refused as "not a valid string (got datetime.date(...))" and
    `2024-13-01` was a ValueError traceback from PyYAML's date constructor."""
    import datetime

    import yaml as pyyaml

    from gputwin.yaml_io import parse_yaml_with_lines

    data, lines = parse_yaml_with_lines("a: 2023-03-01\nb: 2024-13-01\nc: 2001-12-14 21:59:43\n",
                                        "f.yaml")
    assert data == {"a": "2023-03-01", "b": "2024-13-01", "c": "2001-12-14 21:59:43"}
    assert lines[("b",)] == 2
    # the rule is the project loader's own: PyYAML's safe loader is left as it was
    assert pyyaml.safe_load("a: 2023-03-01") == {"a": datetime.date(2023, 3, 1)}


def test_an_impossible_date_is_an_error_at_its_field(tmp_path: Path) -> None:
    from gputwin.errors import InputError
    from gputwin.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text("cluster: {system: dgx-h100, num_nodes: 2}\n"
                    "workload: {synthetic: {num_jobs: 1, arrival: {mean_interarrival: 1h},\n"
                    "  templates: [{model: llama3-8b, num_gpus: 8, duration: 1h}]}}\n"
                    "site: {region: GB, start: 2024-13-01}\n")
    with pytest.raises(InputError, match=r"s\.yaml:4: site\.start: expected a date"):
        load_scenario(path)
    path.write_text(path.read_text().replace("2024-13-01", "2023-03-01"))
    assert load_scenario(path).site.start == "2023-03-01"
