"""The compiled-engine guard: compiled modules are used only while they match the sources."""

from __future__ import annotations

import importlib.machinery
import json
import sys
from pathlib import Path

import pytest

from gputwin.serving import _accel

MODS = ("alpha", "beta")


def _folder(tmp_path: Path, *, built: tuple[str, ...] = (), stamp: bool = False) -> Path:
    for m in MODS:
        (tmp_path / f"{m}.py").write_text(f"NAME = {m!r}\n")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for m in built:
        (tmp_path / f"{m}{suffix}").write_bytes(b"")
    if stamp:
        (tmp_path / _accel.STAMP).write_text(json.dumps(_accel.source_hashes(tmp_path, MODS)))
    return tmp_path


def test_no_compiled_modules_is_not_stale(tmp_path: Path) -> None:
    assert _accel.stale(_folder(tmp_path), MODS) is None
    assert _accel.compiled(tmp_path, MODS) == []


def test_current_stamp_is_used_and_an_edit_makes_it_stale(tmp_path: Path) -> None:
    folder = _folder(tmp_path, built=MODS, stamp=True)
    assert _accel.stale(folder, MODS) is None
    (folder / "beta.py").write_text("NAME = 'edited'\n")
    assert _accel.stale(folder, MODS) == "beta changed since compiled"


def test_partial_or_unstamped_builds_are_stale(tmp_path: Path) -> None:
    assert _accel.stale(_folder(tmp_path, built=("alpha",), stamp=True), MODS) == (
        "only alpha compiled")
    (tmp_path / _accel.STAMP).unlink()
    (tmp_path / f"beta{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    assert "missing" in (_accel.stale(tmp_path, MODS) or "")


def test_a_stale_build_falls_back_to_every_source_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path  # every engine module compiled, no stamp
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for m in _accel.MODULES:
        (folder / f"{m}.py").write_text("")
        (folder / f"{m}{suffix}").write_bytes(b"")
    before = list(sys.meta_path)
    try:
        with pytest.warns(RuntimeWarning, match="compiled serving engine ignored"):
            assert _accel.guard(folder) is False
        finder = sys.meta_path[0]
        assert finder not in before
        spec = finder.find_spec("gputwin.serving.engine")  # type: ignore[call-arg]
        assert spec is not None and spec.origin == str(folder / "engine.py")
        assert finder.find_spec("gputwin.serving.fleet") is None  # type: ignore[call-arg]
    finally:
        sys.meta_path[:] = before


def test_a_build_without_its_group_library_is_stale(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    folder = _folder(pkg, built=MODS, stamp=True)
    assert _accel.stale(folder, MODS, tmp_path) == f"{_accel.GROUP}__mypyc library missing"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / f"{_accel.GROUP}__mypyc{suffix}").write_bytes(b"")
    assert _accel.stale(folder, MODS, tmp_path) is None
