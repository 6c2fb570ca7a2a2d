"""Where bundled scenarios and real data sets live."""

from __future__ import annotations

import os
from pathlib import Path

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError

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
        return Path(env).expanduser()
    candidates = [_CHECKOUT_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def data_candidates(raw: str | Path, base: Path) -> list[Path]:
    """Where a data path given by the user may be, in order: as is when absolute; else
    beside ``base`` (the scenario file's folder, or the current folder for an option),
    then under :func:`data_dir`.

    A path written for the default layout, such as ``../shared/data/traces/x.csv``, also
    names ``traces/x.csv`` under the data folder, so README commands work unchanged when
    ``$GPUTWIN_DATA_DIR`` points elsewhere (the data folder is never joined twice).
    """
    path = Path(raw).expanduser()
    if path.is_absolute():
        return [path]
    root = data_dir()
    cands = [base / path, root / path]
    parts = path.parts
    for i in range(len(parts) - 1):
        if parts[i] == "shared" and parts[i + 1] == "data":
            cands[1] = root.joinpath(*parts[i + 2:])
            break
    return list(dict.fromkeys(cands))


def find_data_file(raw: str | Path, base: Path, where: str, *, folder: bool = False) -> Path:
    """The first of :func:`data_candidates` that exists (a file, or a folder if
    ``folder``), resolved; else an :class:`InputError` at ``where`` naming every place."""
    cands = data_candidates(raw, base)
    found = next((c for c in cands if (c.is_dir() if folder else c.is_file())), None)
    if found is None:
        looked = ", ".join(str(c) for c in cands)
        what = "folder" if folder else "file"
        other = next((c for c in cands if c.exists()), None)
        if other is not None:  # e.g. a trace folder given where a trace file belongs
            raise InputError(f"expected a {what}, got a {'file' if folder else 'folder'}: "
                             f"{other}", where=where)
        raise InputError(f"{what} not found (looked in {looked}; data folder: "
                         "$GPUTWIN_DATA_DIR, default ../shared/data)", where=where)
    return found.resolve()


CATALOG_FIELD_HELP = ("User catalog YAML file(s), merged over the bundled catalog (new "
                      "GPUs, systems, models...); relative to this file (docs/catalog.md)")


def scenario_catalog(files: str | list[str], base: Path, where: str) -> Catalog:
    """The catalog with a scenario's ``catalog:`` files (relative to ``base``) merged in."""
    from gputwin.catalog.loader import use_user_catalogs

    names = [files] if isinstance(files, str) else files
    paths = [p if p.is_absolute() else base / p for p in (Path(n).expanduser() for n in names)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"catalog: file not found: {', '.join(missing)}", where=where)
    return use_user_catalogs(paths)


def bundled_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))
