"""Trace readers' fast paths give exactly what the line-by-line csv parser gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gputwin.workload.llm_azure as azure
from gputwin.scenario.paths import data_dir

AZURE_CONV = data_dir() / "traces" / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> tuple[list[Any], list[Any]]:
    assert azure._read_fast(path, True) is not None  # the fast path is taken
    fast = azure.read_azure_llm_csv(path, **kw)  # type: ignore[arg-type]
    with monkeypatch.context() as m:
        m.setattr(azure, "_read_fast", lambda *a: None)
        slow = azure.read_azure_llm_csv(path, **kw)  # type: ignore[arg-type]
    return fast, slow


def test_azure_fast_path_equals_the_csv_parser(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rows = ["2023-11-16 18:15:50.9951699,396,109", "2023-11-16 18:15:46.6805900,374,44",
            "2023-11-16 18:15:46.6805901,10,0", "2023-11-17 00:00:01,7,3",
            "2023-11-16 18:15:46.68,5,1"]
    path = tmp_path / "t.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "\n".join(rows) + "\n")
    for kw in ({}, {"speedup": 3.0}, {"max_requests": 2}):
        fast, slow = _both(path, monkeypatch, **kw)
        assert fast == slow and len(fast) == min(4, int(kw.get("max_requests", 4)))


@pytest.mark.parametrize("row", ["2023-11-16 18:15:46,374", "2023-13-16 18:15:46,3,4",
                                 "2023-11-16 18:15:46,3.0,4",
                                 "2023-11-16 18:15:46,0,4"])
def test_azure_unusual_rows_take_the_csv_parser(tmp_path: Path, row: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"TIMESTAMP,ContextTokens,GeneratedTokens\n{row}\n")
    assert azure._read_fast(path, True) is None


def test_azure_quoted_fields_parse_as_the_csv_parser_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.csv"
    path.write_text('TIMESTAMP,ContextTokens,GeneratedTokens\n"2023-11-16 18:15:46",3,4\n')
    fast, slow = _both(path, monkeypatch)
    assert fast == slow and len(fast) == 1


@pytest.mark.skipif(not AZURE_CONV.is_file(), reason=f"real Azure trace absent: {AZURE_CONV}")
def test_azure_fast_path_on_the_real_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(AZURE_CONV, monkeypatch)
    assert len(fast) > 10000 and fast == slow
