"""The replica engine's modules import one way, and the compiled engine includes them all."""

from __future__ import annotations

import ast
from pathlib import Path

import gputwin.serving
from gputwin._accel import MODULES

# each imports only the ones before it (docs/serving-simulation.md, the replica engine)
LAYERS = ("sched_state", "preemption", "release", "prefill_progress", "admission",
          "scheduler", "replica_state", "engine")
SERVING = Path(gputwin.serving.__file__).parent


def _serving_imports(module: str) -> set[str]:
    tree = ast.parse((SERVING / f"{module}.py").read_text())
    return {node.module.rpartition(".")[2] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and node.module.startswith("gputwin.serving.")}


def test_the_engine_modules_import_only_the_ones_below_them() -> None:
    for i, module in enumerate(LAYERS):
        later = set(LAYERS[i:])
        assert not _serving_imports(module) & later, module


def test_the_engine_modules_are_all_compiled() -> None:
    assert {f"serving/{m}" for m in LAYERS} <= set(MODULES)
