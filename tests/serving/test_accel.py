"""The compiled-modules guard: compiled modules are used only while they match the sources."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import warnings
from pathlib import Path

import pytest

from gputwin import _accel

MODS = ("alpha", "sub/beta")


def _folder(tmp_path: Path, *, built: tuple[str, ...] = (), stamp: bool = False) -> Path:
    (tmp_path / "sub").mkdir(exist_ok=True)
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
    (folder / "sub" / "beta.py").write_text("NAME = 'edited'\n")
    assert _accel.stale(folder, MODS) == "sub/beta changed since compiled"


def test_partial_or_unstamped_builds_are_stale(tmp_path: Path) -> None:
    assert _accel.stale(_folder(tmp_path, built=("alpha",), stamp=True), MODS) == (
        "only alpha compiled")
    (tmp_path / _accel.STAMP).unlink()
    (tmp_path / f"sub/beta{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    assert "missing" in (_accel.stale(tmp_path, MODS) or "")


def test_a_stale_build_falls_back_to_every_source_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path  # every listed module compiled, no stamp
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for m in _accel.MODULES:
        (folder / m).parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{m}.py").write_text("")
        (folder / f"{m}{suffix}").write_bytes(b"")
    before = list(sys.meta_path)
    try:
        with pytest.warns(RuntimeWarning, match="compiled serving engine ignored"):
            assert _accel.guard(folder, "gputwin") is False
        finder = sys.meta_path[0]
        assert finder not in before
        spec = finder.find_spec("gputwin.serving.engine")  # type: ignore[call-arg]
        assert spec is not None and spec.origin == str(folder / "serving" / "engine.py")
        kernel = finder.find_spec("gputwin.sim.kernel")  # type: ignore[call-arg]
        assert kernel is not None and kernel.origin == str(folder / "sim" / "kernel.py")
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


def test_gputwin_accel_0_imports_the_sources_quietly(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "gputwin"  # a current build: stamp, group library, every module
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for m in _accel.MODULES:
        (folder / m).parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{m}.py").write_text("")
        (folder / f"{m}{suffix}").write_bytes(b"")
    (folder / _accel.STAMP).write_text(json.dumps(_accel.source_hashes(folder)))
    (tmp_path / f"{_accel.GROUP}__mypyc{suffix}").write_bytes(b"")
    before = list(sys.meta_path)
    try:
        assert _accel.guard(folder, "gputwin") is True
        assert sys.meta_path == before
        monkeypatch.setenv("GPUTWIN_ACCEL", "0")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _accel.guard(folder, "gputwin") is False
        spec = sys.meta_path[0].find_spec("gputwin.perf.serving")  # type: ignore[call-arg]
        assert spec is not None and spec.origin == str(folder / "perf" / "serving.py")
    finally:
        sys.meta_path[:] = before
