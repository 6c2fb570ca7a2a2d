"""The proposer kinds are named once (perf/speculation.py's ``DraftKind``): every kind is
reachable from the scenario schema, both CLI commands and the replica model, and nothing
else is offered."""

from __future__ import annotations

import click
import pytest
from perf_serving_builders import make_perf
from pydantic import ValidationError

from gputwin.cli.estimate_serve import serve as estimate_serve
from gputwin.cli.serve_cmd import serve as simulate_serve
from gputwin.perf.speculation import (
    DEFAULT_DRAFT_KIND,
    DRAFT_KINDS,
    DRAFT_MODEL_KINDS,
)
from gputwin.scenario.serving_service import SpeculativeOptions


def _draft_model(kind: str) -> str | None:
    return "llama3.2-1b" if kind in DRAFT_MODEL_KINDS else None


@pytest.mark.parametrize(("command", "option"), [(simulate_serve, "draft_kind"),
                                                 (estimate_serve, "spec_kind")])
def test_cli_choices_are_the_draft_kinds(command: click.Command, option: str) -> None:
    param = next(p for p in command.params if p.name == option)
    assert isinstance(param.type, click.Choice)
    assert tuple(param.type.choices) == DRAFT_KINDS


def test_scenario_schema_offers_the_draft_kinds() -> None:
    schema = SpeculativeOptions.model_json_schema()["properties"]["kind"]
    assert tuple(schema["enum"]) == DRAFT_KINDS
    assert schema["default"] == DEFAULT_DRAFT_KIND
    with pytest.raises(ValidationError, match="kind"):
        SpeculativeOptions.model_validate({"num_tokens": 3, "kind": "medusa"})


@pytest.mark.parametrize("kind", DRAFT_KINDS)
def test_every_draft_kind_runs_from_a_scenario(kind: str) -> None:
    """The scenario takes each kind (with a draft model exactly where the kind needs one)
    and the replica model speculates with it."""
    spec = SpeculativeOptions.model_validate(
        {"num_tokens": 3, "kind": kind, "draft_model": _draft_model(kind)})
    perf = make_perf("llama3-70b", tp=4, num_speculative_tokens=spec.num_tokens,
                     draft_kind=spec.kind, draft_model=spec.draft_model)
    assert perf.speculation.kind == kind
    assert perf.speculation.draft_time_s(8, 8 * 1000.0) > 0

