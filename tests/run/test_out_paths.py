"""``--out`` paths that are not plain new folders: a file in the way, ''."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.cli.main import main

SERVE = ["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--rate", "5",
         "--num-requests", "20", "--quiet", "--outputs", "summary"]


def _main(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


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
