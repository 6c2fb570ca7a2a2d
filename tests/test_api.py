"""The public API is curated: every advertised name resolves, and nothing else leaks."""

from __future__ import annotations

import pytest

import gputwin.api as api


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(api, name) is not None


def test_unknown_name_is_attribute_error() -> None:
    with pytest.raises(AttributeError):
        api.no_such_thing  # noqa: B018


def test_type_checking_names_match_the_exports() -> None:
    """Every lazy export is also imported under TYPE_CHECKING (users' code type-checks)."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(api.__file__).read_text(encoding="utf-8"))
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    typed |= {alias.name for alias in stmt.names}
                    for alias in stmt.names:  # and from the module the export names
                        assert api._EXPORTS[alias.name] == stmt.module, alias.name
    assert typed == set(api._EXPORTS)


def test_typed_request_round_trip() -> None:
    est = api.estimate_train(api.TrainRequest(
        model="llama3-8b", gpu="h100-sxm-80gb", num_gpus=8, global_batch_tokens=1e6,
        layout=api.TrainLayout(tp=2, sequence_parallel=True)))
    assert est.dp == 4 and 0 < est.mfu < 1
    with pytest.raises(api.InputError, match=r"layout\.tp"):
        api.TrainRequest.from_flat({"model": "llama3-8b", "num_gpus": 8, "tp": 0})
