"""Imports point downwards only (docs/architecture.md). Checked on the source AST."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gputwin"

#: Lower rank = lower layer. A module may import its own package or lower ranks only.
RANKS: dict[str, int] = {
    "errors": 0, "units": 0, "yaml_io": 0, "quantities": 0, "requests": 0, "__init__": 0,
    "input_model": 0,
    "textio": 0, "limits": 0, "parse_cache": 0, "_accel": 0,
    "sim": 1,
    "catalog": 2,
    "topology": 3,
    "perf": 4,
    "workload": 5, "energy": 5,
    "cluster": 6, "economics": 6,
    "scheduling": 7, "training": 7, "serving": 7, "reliability": 7, "sites": 7,
    "scenario": 8, "plan": 8,
    "run": 9,
    "validation": 10, "report": 10,
    "cli": 11, "api": 11,
    "server": 12,  # the REST interface calls gputwin.api (rank 11)
    "__main__": 12,  # python -m gputwin runs gputwin.cli (rank 11)
}


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_layers(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "gputwin" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def test_every_layer_is_ranked() -> None:
    layers = {_layer_of(p) for p in PACKAGE.rglob("*.py")}
    assert layers <= set(RANKS), f"unranked layer(s): {sorted(layers - set(RANKS))}"


def test_imports_point_downwards() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer_of(path)
        for lineno, target in _imported_layers(path):
            if target == layer or RANKS.get(target) == 0:  # shared base modules
                continue
            if RANKS.get(target, 99) >= RANKS[layer]:
                violations.append(f"{path.relative_to(PACKAGE)}:{lineno} imports {target}")
    assert not violations, "upward or sideways imports:\n" + "\n".join(violations)
