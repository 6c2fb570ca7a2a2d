"""Where bundled scenarios and real data sets live."""

from __future__ import annotations

import os
from pathlib import Path

#: Bundled example scenarios (package data).
SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT_SCENARIO = SCENARIOS_DIR / "default.yaml"
_DEFAULT_DATA_DIR = Path("/work/shared/data")


def data_dir() -> Path:
    """Folder of real data sets: ``$GPUTWIN_DATA_DIR`` or the shared default."""
    env = os.environ.get("GPUTWIN_DATA_DIR")
    return Path(env) if env else _DEFAULT_DATA_DIR


def bundled_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))
