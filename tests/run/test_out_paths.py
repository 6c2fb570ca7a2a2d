"""``--out`` paths that are not plain new folders: symlinks, a file in the way, ''."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.serving.serving_builders import run_main

SERVE = ["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--rate", "5",
         "--num-requests", "20", "--quiet", "--outputs", "summary"]


_main = run_main


def test_out_symlink_writes_the_run_into_its_target(tmp_path: Path, small_path: Path) -> None:
    outs = tmp_path / "outs"
    outs.mkdir()
    assert _main(["simulate", str(small_path), "--quiet", "--out", str(outs / "run1")]) == 0
    (outs / "link").symlink_to("run1")
    assert _main([*SERVE, "--out", str(outs / "link")]) == 0
    assert (outs / "link").is_symlink() and (outs / "run1").is_dir()
    manifest = json.loads((outs / "run1" / "manifest.json").read_text())
    assert manifest["command"] == "simulate serve"  # the target holds the new run
    assert not (outs / "run1" / "jobs.csv").exists()  # replaced as a whole
    assert sorted(p.name for p in outs.iterdir()) == ["link", "run1"]  # nothing hidden left


def test_out_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("later")
    assert _main([*SERVE, "--out", str(tmp_path / "link")]) == 0
    assert (tmp_path / "link").is_symlink() and (tmp_path / "later" / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["later", "link"]


def test_out_symlink_to_a_folder_of_other_files_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "link").symlink_to("mine")
    assert _main([*SERVE, "--out", str(tmp_path / "link")]) == 2
    assert "not written by a gputwin run (no manifest.json): notes.txt" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_out_symlink_loop_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    assert _main([*SERVE, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "cannot follow the path" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [SERVE, ["compare"]])
def test_out_under_a_file_says_not_a_directory(tmp_path: Path, command: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    args = [*command, "--seeds", "1", "-j", "1", "-q"] if command == ["compare"] else command
    assert _main([*args, "--out", str(tmp_path / "afile" / "sub")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'afile'} is not a directory" in err and "File exists" not in err
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("command", [SERVE, ["compare", "-q"], ["simulate", "--quiet"],
                                     ["scenario", "schema"]])
def test_empty_out_is_refused(tmp_path: Path, command: list[str],
                              capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _main([*command, "--out", ""]) == 2
    assert "'--out': expected a path, got an empty string" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
