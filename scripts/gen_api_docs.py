"""Write docs/api.md from the docstrings of ``gputwin.api`` (run: python scripts/gen_api_docs.py).

One section per public name, in the order of :data:`SECTIONS`: its signature (functions)
or fields (pydantic models and dataclasses), then its docstring. Regenerate after changing
the public API; ``tests/test_api_docs.py`` checks that every public name is documented.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import gputwin.api as api

OUT = Path(__file__).resolve().parents[1] / "docs" / "api.md"

SECTIONS: dict[str, list[str]] = {
    "Training": ["TrainRequest", "TrainLayout", "estimate_train", "TrainPlanRequest",
                 "plan_train", "TrainPlan", "TrainingEstimate", "estimate_training",
                 "TrainingConfig", "ParallelConfig", "MemoryBreakdown"],
    "Collectives and hardware": ["estimate_collective", "collective_time",
                                 "CollectiveEstimate", "CollectiveOp", "resolve_hardware",
                                 "HardwareSpec", "NetworkTopology"],
    "Serving": ["estimate_serve", "ServingEstimate", "load_serving_scenario",
                "simulate_serving", "ServingResult"],
    "Energy": ["estimate_energy", "EnergyEstimate"],
    "Cluster simulation": ["load_scenario", "simulate", "SimulationResult", "JobRecord",
                           "write_outputs"],
    "Catalog": ["default_catalog", "load_catalog", "Catalog", "model_from_hf_config"],
    "Errors": ["InputError", "DoesNotFitError", "UnknownNameError"],
}

HEADER = """# Python API reference

Generated from the docstrings of `gputwin.api` by `scripts/gen_api_docs.py` (do not edit by
hand; rerun the script). Everything here is importable from one place:

```python
from gputwin.api import TrainRequest, TrainLayout, estimate_train, simulate, load_scenario
```

Names resolve lazily (importing `gputwin.api` is cheap). Bad input raises `InputError`
(the CLI's exit 2) naming the field; units are SI (seconds, bytes, watts, joules) unless a
name says otherwise (`_usd`, `_g`, `_l`).
"""


def _fields(obj: type) -> list[str]:
    fields = getattr(obj, "model_fields", None)
    if fields is not None:  # pydantic
        return [f"`{name}`" + (f": {f.description}" if f.description else "")
                for name, f in fields.items()]
    if dataclasses.is_dataclass(obj):
        return [f"`{f.name}`" for f in dataclasses.fields(obj)]
    return []


def _signature(name: str, obj: Any) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    sig = re.sub(r"<function (\w+) at 0x[0-9a-f]+>", r"\1", sig)  # no memory addresses
    return f"```python\n{name}{sig}\n```\n"


def section(name: str) -> str:
    obj = getattr(api, name)
    kind = "class" if inspect.isclass(obj) else "function"
    doc = inspect.cleandoc(obj.__doc__ or "(no docstring)")
    parts = [f"### `{name}` ({kind}, `{obj.__module__}`)\n"]
    if kind == "function":
        parts.append(_signature(name, obj))
    parts.append(doc + "\n")
    fields = _fields(obj) if kind == "class" else []
    if fields:
        parts.append("Fields: " + "; ".join(fields) + ".\n")
    return "\n".join(parts)


def render() -> str:
    listed = [n for names in SECTIONS.values() for n in names]
    missing = sorted(set(api.__all__) - set(listed))
    sections = {**SECTIONS, **({"Other": missing} if missing else {})}
    out = [HEADER]
    for title, names in sections.items():
        out.append(f"## {title}\n")
        out += [section(n) for n in names]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUT}\n")
