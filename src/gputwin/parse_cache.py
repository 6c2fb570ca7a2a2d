"""A cache of parsed bundled data (the catalog, the package's own YAML files), so a command
does not re-read and re-validate the files at every start.

The cache is one pickle file per state of the files it was built from: its name is a digest of the
gputwin, Python and pydantic versions and of each file's name, size and modification
time, so an edited file or an upgraded package is a miss and is re-read. It lives in
``$GPUTWIN_CACHE_DIR`` if set (``off`` disables the cache), else
``$XDG_CACHE_HOME/gputwin`` or ``~/.cache/gputwin``. Every failure (a folder that cannot be
written, a truncated or stale file) falls back to parsing the YAML files: the cache only
ever changes the speed. Files are written to a temporary name and renamed, so parallel
processes never read a half-written one.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

#: The catalog's schema and loader modules: part of every key (a source checkout may change
#: them while the package version stays the same).
_SCHEMA = (Path(__file__).resolve().parent / "catalog" / "schema.py",
           Path(__file__).resolve().parent / "catalog" / "loader.py")

#: Environment variable naming the cache folder (``off``: no cache).
CACHE_ENV = "GPUTWIN_CACHE_DIR"

T = TypeVar("T")


def cache_dir() -> Path | None:
    """The cache folder (may not exist yet), or ``None`` when the cache is off."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "gputwin"


def cache_key(paths: Sequence[Path]) -> str | None:
    """A digest of the files' names, sizes and modification times and of the versions
    that shape the pickled objects; ``None`` if a file cannot be read."""
    import pydantic

    import gputwin

    parts = [gputwin.__version__, sys.version, str(pydantic.VERSION)]
    try:
        for path in (*paths, *_SCHEMA):  # an edited schema changes the pickled objects too
            st = path.stat()
            parts.append(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    except OSError:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def cached(name: str, paths: Sequence[Path], build: Callable[[], T]) -> T:
    """``build()``, or its result pickled by an earlier process for the same ``paths``
    (see the module docstring). Errors of ``build`` propagate; cache errors do not."""
    folder = cache_dir()
    key = cache_key(paths) if folder is not None else None
    if folder is None or key is None:
        return build()
    file = folder / f"{name}-{key}.pickle"
    try:
        with file.open("rb") as fh:
            value: T = pickle.load(fh)
        return value
    except Exception:  # a missing, stale or broken cache file is a miss
        pass
    value = build()
    _store(file, value)
    return value


def _store(file: Path, value: object) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (OSError, pickle.PicklingError):
        pass  # an unwritable cache folder only costs the parse next time
