"""The parsed bundled catalog is cached across processes, keyed by its files' state;
a broken or unwritable cache only costs a parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gputwin import parse_cache as cache_mod
from gputwin.catalog.loader import DATA_DIR, bundled_catalog, load_catalog


def _paths() -> list[Path]:
    return sorted(DATA_DIR.glob("*.yaml"))


def test_second_load_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path))
    first = cache_mod.cached("catalog", _paths(), lambda: load_catalog(_paths()))
    assert len(list(tmp_path.glob("catalog-*.pickle"))) == 1

    def boom() -> None:
        raise AssertionError("parsed again")

    again = cache_mod.cached("catalog", _paths(), boom)
    assert again == first and again.models.keys() == bundled_catalog().models.keys()


def test_a_changed_file_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path / "c"))
    src = tmp_path / "parts.yaml"
    src.write_text("models: []\n")
    assert cache_mod.cached("t", [src], lambda: 1) == 1
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache_mod.cached("t", [src], lambda: 2) == 2
    assert cache_mod.cached("t", [src], lambda: 3) == 2


def test_broken_or_unwritable_cache_falls_back(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(blocker / "sub"))
    assert cache_mod.cached("t", _paths(), lambda: 7) == 7
    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path / "c"))
    cache_mod.cached("t", _paths(), lambda: 8)
    for f in (tmp_path / "c").glob("t-*.pickle"):
        f.write_bytes(b"garbage")
    assert cache_mod.cached("t", _paths(), lambda: 9) == 9


def test_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache_mod.CACHE_ENV, "off")
    assert cache_mod.cache_dir() is None
    assert cache_mod.cached("t", _paths(), lambda: 5) == 5


def test_bundled_yaml_parsed_once_user_yaml_always(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from gputwin import yaml_io

    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path / "c"))
    bundled = DATA_DIR / "models.yaml"
    first = yaml_io.load_yaml_with_lines(bundled)
    assert list((tmp_path / "c").glob("yaml-models-*.pickle"))
    user = tmp_path / "scenario.yaml"
    user.write_text("name: x\nseed: 3\n")
    assert yaml_io.load_yaml_with_lines(user) == ({"name": "x", "seed": 3},
                                                  {(): 1, ("name",): 1, ("seed",): 2})
    assert not list((tmp_path / "c").glob("yaml-scenario-*.pickle"))

    def no_parse(*args: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(yaml_io, "parse_yaml_with_lines", no_parse)
    assert yaml_io.load_yaml_with_lines(bundled) == first


def test_user_catalog_files_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gputwin.catalog import loader

    monkeypatch.setenv(cache_mod.CACHE_ENV, str(tmp_path / "c"))
    extra = tmp_path / "mine.yaml"
    extra.write_text((DATA_DIR / "models.yaml").read_text())
    parsed = loader._user_catalog([extra])
    assert list((tmp_path / "c").glob("catalog-user-*.pickle"))

    def no_parse(paths: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(loader, "load_catalog", no_parse)
    assert loader._user_catalog([extra]) == parsed
