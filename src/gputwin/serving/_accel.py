"""Optional compiled serving engine: use it only while it matches the sources.

``python bench/build_serving_accel.py`` compiles the engine's hot modules (:data:`MODULES`)
with mypyc into extension modules next to their sources (the same code, the same results,
about twice as fast) and writes :data:`STAMP` with each source's SHA-256. Python imports an
extension module in preference to the ``.py`` beside it, so a compiled module would keep
running after its source was edited. :func:`guard` runs when this module is imported (by
:mod:`gputwin.serving`, before any engine module) and checks the stamp: when a compiled
module exists and any source differs from what was compiled, the sources are imported
instead — all of them, since compiled modules call each other directly — with a warning
naming the rebuild command. Without compiled modules this costs one directory listing.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules compiled together (their calls into each other bypass ``sys.modules``).
MODULES = ("admission", "decode_skip", "engine", "histogram", "kv_cache", "preemption",
           "prefill_pause", "prefill_progress", "release", "replica_state", "request",
           "sched_state", "scheduler", "step_cost", "wait_queue")
STAMP = "_accel_stamp.json"
#: mypyc's group name: its shared library sits two folders up (beside the package)
GROUP = "gputwin_serving_accel"
REBUILD = "python bench/build_serving_accel.py (or --clean to remove it)"
_HERE = Path(__file__).resolve().parent
_PACKAGE = __name__.rpartition(".")[0]


def source_hashes(folder: Path, modules: Sequence[str] = MODULES) -> dict[str, str]:
    """SHA-256 of each module's source in ``folder``."""
    return {m: hashlib.sha256((folder / f"{m}.py").read_bytes()).hexdigest() for m in modules}


def compiled(folder: Path, modules: Sequence[str] = MODULES) -> list[str]:
    """The modules of ``modules`` that have an extension module in ``folder``."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    names = {p.name for p in folder.iterdir() if p.name.endswith(suffixes)}
    return [m for m in modules if any(m + s in names for s in suffixes)]


def stale(folder: Path, modules: Sequence[str] = MODULES,
          group_dir: Path | None = None) -> str | None:
    """Why the compiled modules in ``folder`` must not be used (None: none, or current);
    with ``group_dir``, the group's shared library must be there too."""
    built = compiled(folder, modules)
    if not built:
        return None
    if len(built) != len(modules):
        return f"only {', '.join(built)} compiled"
    if group_dir is not None and not any(group_dir.glob(f"{GROUP}__mypyc*")):
        return f"{GROUP}__mypyc library missing"
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return f"{STAMP} missing or unreadable"
    changed = [m for m, h in source_hashes(folder, modules).items() if stamp.get(m) != h]
    return f"{', '.join(changed)} changed since compiled" if changed else None


class _SourceFirst:
    """Meta-path finder: import the listed modules from their ``.py`` sources."""

    def __init__(self, folder: Path, modules: Sequence[str]) -> None:
        self._paths = {f"{_PACKAGE}.{m}": folder / f"{m}.py" for m in modules}

    def find_spec(self, fullname: str, path: object = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        source = self._paths.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def guard(folder: Path = _HERE) -> bool:
    """Fall back to the sources when the compiled modules are stale; True when the
    compiled modules will be used."""
    reason = stale(folder, MODULES, folder.parent.parent)
    if reason is not None:
        warnings.warn(f"gputwin: compiled serving engine ignored ({reason}); rebuild with "
                      f"{REBUILD}", RuntimeWarning, stacklevel=2)
        sys.meta_path.insert(0, _SourceFirst(folder, MODULES))
        return False
    return bool(compiled(folder))


#: True when this process runs the compiled engine (checked once, at import).
USING_COMPILED = guard()
