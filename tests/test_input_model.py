"""One rule set for every model of user input (gputwin.input_model.InputModel)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field, ValidationError

from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.quantities import Seconds
from gputwin.scenario.load import load_scenario


class _Sample(InputModel):
    count: int = 1
    share: float = 1.0
    limit: Annotated[int, Field(gt=0)] | None = None
    wait: Seconds = 1.0
    flag: bool = False
    either: int | bool = 0
    level: Literal[1, 2] = 1


@pytest.mark.parametrize("field", ["count", "share", "limit", "wait", "level"])
def test_a_boolean_is_refused_where_a_number_belongs(field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _Sample.model_validate({field: True})
    assert exc.value.errors()[0]["loc"][0] == field  # named at its own key


def test_booleans_stay_booleans_where_a_field_takes_one() -> None:
    s = _Sample.model_validate({"flag": True, "either": True})
    assert s.flag is True and s.either is True


@pytest.mark.parametrize("value", [float("inf"), float("nan"), "inf"])
def test_numbers_must_be_finite(value: object) -> None:
    with pytest.raises(ValidationError, match="finite number"):
        _Sample.model_validate({"share": value})


def test_frozen_and_no_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        _Sample.model_validate({"cuont": 2})
    s = _Sample()
    with pytest.raises(ValidationError):
        s.count = 3  # type: ignore[misc]


def test_scenario_sections_share_the_rule(tmp_path: Path) -> None:
    """Sections that had no finite-number check before (failures:) and the cluster's node
    count refuse .inf and true at file:line and key."""
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ncluster: {system: dgx-h100, num_nodes: true}\n")
    with pytest.raises(InputError, match=r"s\.yaml:2: cluster\.num_nodes: .*'true'"):
        load_scenario(path)
    path.write_text("name: s\ncluster: {system: dgx-h100, num_nodes: 4}\n"
                    "failures:\n  rate_scale: .inf\n")
    with pytest.raises(InputError, match=r"s\.yaml:4: failures\.rate_scale: .*finite"):
        load_scenario(path)
