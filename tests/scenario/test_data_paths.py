"""Issue 15 item 1: one rule for data paths; $GPUTWIN_DATA_DIR is never joined twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.cli.main import main
from gputwin.errors import InputError
from gputwin.scenario.paths import data_candidates, data_dir, find_data_file

AZURE = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,374,44\n"


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "elsewhere" / "data"
    (root / "traces" / "azure").mkdir(parents=True)
    (root / "traces" / "azure" / "conv.csv").write_text(AZURE)
    monkeypatch.setenv("GPUTWIN_DATA_DIR", str(root))
    clone = tmp_path / "fresh-clone"
    clone.mkdir()
    monkeypatch.chdir(clone)
    return root


def test_readme_style_path_is_found_under_the_env_data_dir(data_root: Path) -> None:
    assert data_dir() == data_root
    raw = "../shared/data/traces/azure/conv.csv"
    assert data_root / "traces" / "azure" / "conv.csv" in data_candidates(raw, Path.cwd())
    found = find_data_file(raw, Path.cwd(), "--trace")
    assert found == (data_root / "traces" / "azure" / "conv.csv").resolve()
    assert find_data_file("traces/azure/conv.csv", Path.cwd(), "--trace") == found


def test_missing_data_file_names_every_place_looked(data_root: Path) -> None:
    with pytest.raises(InputError, match=r"^--trace: file not found \(looked in .*"
                                         r"elsewhere/data/traces/nope\.csv"):
        find_data_file("../shared/data/traces/nope.csv", Path.cwd(), "--trace")


def test_simulate_serve_readme_trace_command(data_root: Path) -> None:
    main(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
          "--trace", "../shared/data/traces/azure/conv.csv", "--quiet", "--out", "o"])
    assert (Path("o") / "summary.json").is_file()


def test_grid_data_real_reads_the_env_data_dir(data_root: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["estimate", "energy", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
              "--num-gpus", "8", "--tokens", "1e9", "--grid-data", "real"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--grid-data: no grid/ folder under {data_root}" in err
