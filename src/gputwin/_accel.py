"""Optional compiled hot path: use it only while it matches the sources.

``python bench/build_serving_accel.py`` (and ``pip install .``, see ``setup.py``) compiles
the simulator's hot modules (:data:`MODULES`: the serving engine, the event kernel, the
arrival feed and the serving step model) with mypyc into extension modules next to their
sources (the same code, the same results, 2.5-3 times as fast on a serving run) and
writes :data:`STAMP` with each source's SHA-256. Python imports an extension module in
preference to the ``.py`` beside it, so a compiled module would keep running after its
source was edited.
:func:`guard` runs when the ``gputwin`` package is imported, before any of its modules,
and checks the stamp: when a compiled module exists and any source differs from what was
compiled, the sources are imported instead — all of them, since compiled modules call each
other directly — with a warning naming the rebuild command. ``GPUTWIN_ACCEL=0`` in the
environment imports the sources too, without a warning (for tools that patch a class, and
for comparing the two). Without compiled modules this costs one directory listing per
folder. Imports nothing from gputwin.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules compiled together, as paths under the package without ``.py`` (their calls
#: into each other bypass ``sys.modules``).
MODULES = ("serving/admission", "serving/decode_skip", "serving/engine", "serving/histogram",
           "serving/kv_cache", "serving/preemption", "serving/prefill_pause",
           "serving/prefill_progress", "serving/release", "serving/replica_state",
           "serving/request", "serving/sched_state", "serving/scheduler",
           "serving/step_cost", "serving/wait_queue", "serving/arrivals", "sim/kernel",
           "perf/serving")
#: The stamp, in the package's root folder.
STAMP = "_accel_stamp.json"
#: mypyc's group name: its shared library sits beside the package folder
GROUP = "gputwin_serving_accel"
REBUILD = "python bench/build_serving_accel.py (or --clean to remove it)"
_ROOT = Path(__file__).resolve().parent
_PACKAGE = __name__.rpartition(".")[0]


def source_hashes(root: Path, modules: Sequence[str] = MODULES) -> dict[str, str]:
    """SHA-256 of each module's source under the package folder ``root``."""
    return {m: hashlib.sha256((root / f"{m}.py").read_bytes()).hexdigest() for m in modules}


def compiled(root: Path, modules: Sequence[str] = MODULES) -> list[str]:
    """The modules of ``modules`` that have an extension module under ``root``."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    names: set[str] = set()
    for folder in {(root / m).parent for m in modules}:
        if folder.is_dir():
            names |= {str((folder / p.name).relative_to(root)) for p in folder.iterdir()
                      if p.name.endswith(suffixes)}
    return [m for m in modules if any(m + s in names for s in suffixes)]


def stale(root: Path, modules: Sequence[str] = MODULES,
          group_dir: Path | None = None) -> str | None:
    """Why the compiled modules under ``root`` must not be used (None: none, or current);
    with ``group_dir``, the group's shared library must be there too."""
    built = compiled(root, modules)
    if not built:
        return None
    if len(built) != len(modules):
        return f"only {', '.join(built)} compiled"
    if group_dir is not None and not any(group_dir.glob(f"{GROUP}__mypyc*")):
        return f"{GROUP}__mypyc library missing"
    try:
        stamp = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return f"{STAMP} missing or unreadable"
    changed = [m for m, h in source_hashes(root, modules).items() if stamp.get(m) != h]
    return f"{', '.join(changed)} changed since compiled" if changed else None


class _SourceFirst:
    """Meta-path finder: import the listed modules from their ``.py`` sources."""

    def __init__(self, root: Path, modules: Sequence[str], package: str) -> None:
        self._paths = {f"{package}.{m.replace('/', '.')}": root / f"{m}.py" for m in modules}

    def find_spec(self, fullname: str, path: object = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        source = self._paths.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def guard(root: Path = _ROOT, package: str = _PACKAGE) -> bool:
    """Fall back to the sources when the compiled modules are stale, or when the
    environment says ``GPUTWIN_ACCEL=0`` (quietly: asked for); True when the compiled
    modules will be used."""
    if not compiled(root):
        return False
    reason = "GPUTWIN_ACCEL=0" if os.environ.get("GPUTWIN_ACCEL") == "0" else None
    if reason is None:
        reason = stale(root, MODULES, root.parent)
        if reason is not None:
            warnings.warn(f"gputwin: compiled serving engine ignored ({reason}); rebuild "
                          f"with {REBUILD}", RuntimeWarning, stacklevel=2)
    if reason is not None:
        sys.meta_path.insert(0, _SourceFirst(root, MODULES, package))
        return False
    return True


#: True when this process runs the compiled modules (checked once, at import).
USING_COMPILED = guard()
