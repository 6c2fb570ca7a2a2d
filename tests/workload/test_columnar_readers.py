"""The columnar (pyarrow) fast paths of the trace readers give exactly what the
line-by-line readers give, and bad input still names its ``file:line``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gputwin.errors import InputError
from gputwin.workload import llm_azure, llm_burstgpt, llm_mooncake, philly_csv


def _azure(tmp: Path, rng: np.random.Generator) -> Path:
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in rng.permutation(300):
        lines.append(f"2023-11-16 18:{i // 60:02d}:{i % 60:02d}.{rng.integers(10**7):07d},"
                     f"{rng.integers(1, 4000)},{rng.integers(0, 500)}")
    return _write(tmp / "a.csv", lines)


def _burst(tmp: Path, rng: np.random.Generator) -> Path:
    lines = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"]
    for _ in range(300):
        p, o = rng.integers(0, 3000), rng.integers(0, 400)
        lines.append(f"{rng.uniform(0, 900):.3f},{rng.choice(['ChatGPT', 'GPT-4'])},{p},{o},"
                     f"{p + o},{rng.choice(['Conversation log', 'API log'])}")
    return _write(tmp / "b.csv", lines)


def _mooncake(tmp: Path, rng: np.random.Generator) -> Path:
    rows = []
    for _ in range(300):
        p = int(rng.integers(1, 5000))
        n = int(rng.integers(0, -(-p // 512) + 1))
        rows.append(json.dumps({"timestamp": int(rng.integers(0, 10**6)), "input_length": p,
                                "output_length": int(rng.integers(1, 600)),
                                "hash_ids": [int(h) for h in rng.integers(0, 50, n)]}))
    return _write(tmp / "m.jsonl", rows)


def _philly(tmp: Path, rng: np.random.Generator) -> Path:
    lines = ["timestamp,duration,num_gpus,gpu_time,cluster"]
    for _ in range(300):
        d, g = float(rng.integers(1, 10**5)), int(rng.choice([1, 2, 4, 8, 16]))
        lines.append(f"2017-10-{rng.integers(1, 28):02d} {rng.integers(24):02d}:"
                     f"{rng.integers(60):02d}:{rng.integers(60):02d},{d},{g},{d * g},"
                     f"{rng.choice(['c1', 'c2'])}")
    return _write(tmp / "p.csv", lines)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


CASES: list[tuple[str, Any, Callable[..., Path], Callable[[Path], Any]]] = [
    ("azure", llm_azure, _azure,
     lambda p: llm_azure.read_azure_llm_csv(p, speedup=2.0, max_requests=250)),
    ("burstgpt", llm_burstgpt, _burst,
     lambda p: llm_burstgpt.read_burstgpt_csv(p, model="ChatGPT", max_requests=100)),
    ("mooncake", llm_mooncake, _mooncake,
     lambda p: llm_mooncake.read_mooncake_jsonl(p, speedup=1.5)),
    ("philly", philly_csv, _philly,
     lambda p: philly_csv.read_philly_csv(p, cluster="c1", max_gpus=8, max_jobs=90)),
]


@pytest.mark.parametrize(("name", "module", "make", "read"), CASES,
                         ids=[c[0] for c in CASES])
def test_fast_path_equals_the_line_reader(name: str, module: Any, make: Any, read: Any,
                                          tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = make(tmp_path, np.random.default_rng(7))
    assert module._read_fast(path, *([] if name in ("mooncake", "philly") else
                                     [True] if name == "azure" else [None, None])) is not None
    fast = read(path)
    monkeypatch.setattr(module, "_read_fast", lambda *a, **k: None)
    assert fast == read(path) and len(fast) > 10


@pytest.mark.parametrize(("name", "bad", "line"), [
    ("azure", "2023-11-16 18:00:01.5,x,3", 3),
    ("burstgpt", "5,ChatGPT,12,-3,9,Conversation log", 3),
    ("philly", "2017-10-09 07:01:55,66.0,0,0,c1", 3),
])
def test_bad_rows_still_name_their_line(name: str, bad: str, line: int,
                                        tmp_path: Path) -> None:
    _, _, make, read = next(c for c in CASES if c[0] == name)
    good = make(tmp_path, np.random.default_rng(1)).read_text().splitlines()
    path = _write(tmp_path / "bad.txt", [*good[:2], bad, *good[2:]])
    with pytest.raises(InputError, match=rf"bad.txt:{line}\b"):
        read(path)


def test_mooncake_bad_hash_ids_name_their_line(tmp_path: Path) -> None:
    good = _mooncake(tmp_path, np.random.default_rng(2)).read_text().splitlines()
    bad = json.dumps({"timestamp": 5, "input_length": 10, "output_length": 3,
                      "hash_ids": [1, 2]})  # two blocks of 512 for 10 tokens
    path = _write(tmp_path / "bad.jsonl", [*good[:4], bad, *good[4:]])
    with pytest.raises(InputError, match=r"bad.jsonl:5\b.*hash_ids"):
        llm_mooncake.read_mooncake_jsonl(path)


@pytest.mark.parametrize(("name", "read", "reasons"), [
    ("azure", lambda p, s: llm_azure.read_azure_llm_csv(p, skipped=s),
     {llm_azure.ZERO_OUTPUT}),
    ("burstgpt", lambda p, s: llm_burstgpt.read_burstgpt_csv(
        p, model="ChatGPT", log_type="Conversation log", skipped=s),
     {llm_burstgpt.OTHER_MODEL, llm_burstgpt.OTHER_LOG_TYPE, llm_burstgpt.FAILED}),
])
def test_skipped_rows_are_counted_alike_on_both_paths(
        name: str, read: Any, reasons: set[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, module, make, _ = next(c for c in CASES if c[0] == name)
    path = make(tmp_path, np.random.default_rng(3))
    failed = {"azure": ["2023-11-16 18:30:00.5,120,0", "2023-11-16 18:30:01.5,7,0"],
              "burstgpt": ["10.5,ChatGPT,0,0,0,Conversation log",
                           "11.5,ChatGPT,35,0,35,Conversation log"]}[name]
    path.write_text(path.read_text() + "\n".join(failed) + "\n", encoding="utf-8")
    rows = len(path.read_text().splitlines()) - 1
    fast_skipped: dict[str, int] = {}
    fast = read(path, fast_skipped)
    monkeypatch.setattr(module, "_read_fast", lambda *a, **k: None)
    slow_skipped: dict[str, int] = {}
    slow = read(path, slow_skipped)
    assert fast == slow and fast_skipped == slow_skipped
    assert set(fast_skipped) == reasons and all(n > 0 for n in fast_skipped.values())
    assert len(fast) + sum(fast_skipped.values()) == rows  # every row is either kept or told
