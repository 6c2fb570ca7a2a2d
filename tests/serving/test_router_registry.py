"""Router registry: names, typed arguments, duplicates, and the choices derived from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from gputwin.errors import InputError, UnknownNameError
from gputwin.scenario.serving import ServingScenario
from gputwin.serving.router import (
    PrefixAffinity,
    RouterPlugin,
    make_router,
    register,
    router_names,
    unregister,
)


def _scenario(router: Any) -> ServingScenario:
    return ServingScenario.model_validate({"name": "r", "serving": {
        "services": [{"name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb",
                      "replicas": 2, "router": router}],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 10,
                      "arrival": {"process": "poisson", "rate": 1}}]}})


def test_built_in_routers_are_registered_under_router_prefix() -> None:
    assert set(router_names()) >= {"round_robin", "least_outstanding", "kv_aware",
                                   "prefix_affinity"}


def test_typed_args_reach_the_router_and_bad_ones_are_input_errors() -> None:
    router = make_router("prefix_affinity:load_slack=0.5,vnodes=8")
    assert isinstance(router, PrefixAffinity)
    assert router.load_slack == 0.5 and router._vnodes == 8
    with pytest.raises(InputError, match="vnodes"):
        make_router("prefix_affinity:vnodes=0")
    with pytest.raises(InputError, match="colour"):
        make_router("round_robin:colour=red")
    with pytest.raises(UnknownNameError, match="least_outstanding"):
        make_router("least_outstandin")


def test_duplicate_and_malformed_names_are_rejected() -> None:
    class Again(RouterPlugin):
        name = "router/round_robin"

    with pytest.raises(ValueError, match="already registered"):
        register(Again)

    class NoPrefix(RouterPlugin):
        name = "random"

    with pytest.raises(ValueError, match="router/<name>"):
        register(NoPrefix)


def test_a_registered_router_becomes_a_scenario_and_cli_choice() -> None:
    @register
    class Last(RouterPlugin):
        name = "router/test_last"

        def choose(self, req: Any, replicas: Sequence[Any], now_s: float) -> Any:
            return replicas[-1]

    try:
        assert "test_last" in router_names()
        assert _scenario("test_last").serving.services[0].router == "test_last"
    finally:
        unregister("test_last")
    with pytest.raises(ValueError, match="test_last"):
        _scenario("test_last")


def test_scenario_router_accepts_a_mapping_with_typed_args() -> None:
    sc = _scenario({"name": "prefix_affinity", "load_slack": 0.75})
    assert sc.serving.services[0].router == "prefix_affinity:load_slack=0.75"
    assert _scenario("kv_aware").serving.services[0].router == "kv_aware"
    with pytest.raises(ValueError, match="load_slack"):
        _scenario({"name": "prefix_affinity", "load_slack": -1})
    with pytest.raises(ValueError, match="did you mean"):
        _scenario("kv_awar")


def _main(argv: list[str]) -> int:
    from gputwin.cli.main import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_router_choices_come_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["simulate", "serve", "--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in router_names())
    assert _main(["simulate", "serve", "--model", "llama3.1-8b", "--router", "nope"]) == 2
    assert "round_robin" in capsys.readouterr().err
