"""Where bundled scenarios and real data sets live."""

from __future__ import annotations

import os
from pathlib import Path

#: Bundled example scenarios (package data).
SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT_SCENARIO = SCENARIOS_DIR / "default.yaml"
#: Where a source checkout sits: src/gputwin/scenario/paths.py → the repository root.
_CHECKOUT_ROOT = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    """Folder of the real data sets (traces, grid series).

    ``$GPUTWIN_DATA_DIR`` when set; otherwise ``../shared/data`` next to the source checkout,
    or next to the current folder — the first that exists (the checkout's when neither
    does, so error messages name a sensible place).
    """
    env = os.environ.get("GPUTWIN_DATA_DIR")
    if env:
        return Path(env)
    candidates = [_CHECKOUT_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def bundled_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))
