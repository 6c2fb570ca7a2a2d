"""LLM trace readers: tiny files written here, malformed lines, and the real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.scenario.paths import data_dir
from gputwin.workload.llm_azure import read_azure_llm_csv
from gputwin.workload.llm_burstgpt import read_burstgpt_csv
from gputwin.workload.llm_mooncake import read_mooncake_jsonl

AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
BURST_HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_azure_times_relative_and_sorted(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", AZURE_HEADER
                  + "2023-11-16 18:15:50.9951690,396,109\n"
                  + "2023-11-16 18:15:46.6805900,374,44\n\n")
    reqs = read_azure_llm_csv(path)
    assert [(r.arrival_time_s, r.num_prompt_tokens, r.num_output_tokens) for r in reqs] == [
        (0.0, 374, 44), (pytest.approx(4.314579), 396, 109)]
    assert [r.request_id for r in reqs] == [0, 1]
    assert read_azure_llm_csv(path, speedup=2.0)[1].arrival_time_s == pytest.approx(2.1572895)


@pytest.mark.parametrize("line_reader", [False, True])
def test_azure_timestamps_may_be_plain_seconds(tmp_path: Path, line_reader: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-written offline batch (every TIMESTAMP 0) or an offset in seconds reads as
    the datetime form does; both the columnar and the line reader take it."""
    import gputwin.workload.llm_azure as azure

    if line_reader:
        monkeypatch.setattr(azure, "_read_fast", lambda *a, **k: None)
    batch = _write(tmp_path, "b.csv", AZURE_HEADER + "0,1024,128\n" * 3)
    reqs = read_azure_llm_csv(batch)
    assert [(r.arrival_time_s, r.num_prompt_tokens) for r in reqs] == [(0.0, 1024)] * 3
    offsets = _write(tmp_path, "o.csv", AZURE_HEADER + "12.5,396,109\n8.25,374,44\n")
    assert [(r.arrival_time_s, r.num_prompt_tokens) for r in read_azure_llm_csv(offsets)] == [
        (0.0, 374), (4.25, 396)]


@pytest.mark.parametrize(("rows", "message"), [
    ("0,10,5\n2023-11-16 18:15:50,10,5\n", "expected seconds as in the rows above"),
    ("2023-11-16 18:15:50,10,5\n3.5,10,5\n", "expected datetimes as in the rows above"),
    ("inf,10,5\n", "expected a finite number of seconds"),
    ("soon,10,5\n", "expected 'YYYY-MM-DD HH:MM:SS[.f]' or seconds"),
])
def test_azure_timestamps_of_one_kind_and_finite(tmp_path: Path, rows: str,
                                                 message: str) -> None:
    import re

    path = _write(tmp_path, "m.csv", AZURE_HEADER + rows)
    with pytest.raises(InputError, match=re.escape(message)):
        read_azure_llm_csv(path)


@pytest.mark.parametrize(("row", "column"), [
    ("2023-13-16 18:15:50,396,109", "TIMESTAMP"),
    ("2023-11-16 18:15:50,abc,109", "ContextTokens"),
    ("2023-11-16 18:15:50,0,109", "ContextTokens"),
    ("2023-11-16 18:15:50,10,-1", "GeneratedTokens"),
])
def test_azure_malformed_line_names_file_line_and_column(tmp_path: Path, row: str,
                                                         column: str) -> None:
    path = _write(tmp_path, "a.csv", AZURE_HEADER + "2023-11-16 18:15:46,374,44\n" + row + "\n")
    with pytest.raises(InputError) as info:
        read_azure_llm_csv(path)
    assert str(info.value).startswith(f"{path}:3: column '{column}'")


def test_azure_bad_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "time,in,out\n1,2,3\n")
    with pytest.raises(InputError, match=r":1: header lacks column"):
        read_azure_llm_csv(path)


def test_mooncake_hash_ids_and_errors(tmp_path: Path) -> None:
    good = ('{"timestamp": 3000, "input_length": 1100, "output_length": 5, "hash_ids": [0, 1, 2]}\n'
            '{"timestamp": 0, "input_length": 600, "output_length": 7, "hash_ids": [0, 3]}\n')
    reqs = read_mooncake_jsonl(_write(tmp_path, "m.jsonl", good))
    assert [r.arrival_time_s for r in reqs] == [0.0, 3.0]
    assert reqs[1].prefix_hashes == (0, 1, 2) and reqs[1].hash_block_tokens == 512
    assert read_mooncake_jsonl(_write(tmp_path, "m2.jsonl", good),
                               use_hash_ids=False)[0].prefix_hashes == ()
    for bad, msg in [("{not json", "not valid JSON"),
                     ('{"timestamp": 1, "input_length": 10}', "missing field"),
                     ('{"timestamp": 1, "input_length": 10, "output_length": 1, '
                      '"hash_ids": [0, 1]}', "hash_ids"),
                     ('{"timestamp": -5, "input_length": 10, "output_length": 1}', "timestamp")]:
        path = _write(tmp_path, "bad.jsonl", good + bad + "\n")
        with pytest.raises(InputError, match=msg) as info:
            read_mooncake_jsonl(path)
        assert str(info.value).startswith(f"{path}:3:")


def test_burstgpt_filters_and_skips_failures(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.csv", BURST_HEADER
                  + "5,ChatGPT,472,18,490,Conversation log\n"
                  + "45,ChatGPT,1087,0,1087,Conversation log\n"
                  + "118,GPT-4,417,276,693,API log\n")
    reqs = read_burstgpt_csv(path)
    assert [(r.arrival_time_s, r.num_prompt_tokens) for r in reqs] == [(0.0, 472), (113.0, 417)]
    assert len(read_burstgpt_csv(path, model="GPT-4")) == 1
    assert len(read_burstgpt_csv(path, log_type="Conversation log")) == 1
    bad = _write(tmp_path, "c.csv", BURST_HEADER + "5,ChatGPT,x,18,490,Conversation log\n")
    with pytest.raises(InputError, match=r"c.csv:2: column 'Request tokens'"):
        read_burstgpt_csv(bad)


@pytest.mark.parametrize(("name", "text", "column"), [
    # the earliest row comes second: the row far after it is named (line 1 of the JSONL)
    ("m.jsonl", '{"timestamp": 1e30, "input_length": 100, "output_length": 5}\n'
                '{"timestamp": 0, "input_length": 100, "output_length": 5}\n', "timestamp"),
    ("b.csv", BURST_HEADER + "5,ChatGPT,10,10,20,Conversation log\n"
              "2000000005,ChatGPT,10,10,20,Conversation log\n", "Timestamp"),
    ("a.csv", AZURE_HEADER + "2023-11-16 18:15:46,374,44\n2060-11-16 18:15:46,374,44\n",
     "TIMESTAMP"),
])
def test_a_trace_spanning_over_1e9_s_is_refused_naming_the_row(
        tmp_path: Path, name: str, text: str, column: str) -> None:
    path = _write(tmp_path, name, text)
    reader = {"m.jsonl": read_mooncake_jsonl, "b.csv": read_burstgpt_csv,
              "a.csv": read_azure_llm_csv}[name]
    line = 1 if name == "m.jsonl" else 3
    with pytest.raises(InputError, match=f"^{path}:{line}: column '{column}': .* after the "
                       "trace's earliest request .* at most 1e\\+09 s"):
        reader(path)


def test_a_trace_of_ten_years_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", AZURE_HEADER + "2023-11-16 18:15:46,374,44\n"
                  "2033-11-16 18:15:46,374,44\n")
    assert read_azure_llm_csv(path)[1].arrival_time_s == pytest.approx(3653 * 86400)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_azure_llm_csv(tmp_path / "nope.csv")


AZURE = data_dir() / "traces" / "azure-llm-2023"
MOONCAKE = data_dir() / "traces" / "mooncake-fast25"


@pytest.mark.skipif(not AZURE.is_dir(), reason=f"real Azure LLM trace absent: {AZURE}")
def test_real_azure_traces_parse() -> None:
    conv = read_azure_llm_csv(AZURE / "AzureLLMInferenceTrace_conv.csv")
    code = read_azure_llm_csv(AZURE / "AzureLLMInferenceTrace_code.csv")
    assert len(conv) == 19366 and len(code) == 8819  # counts in data/SOURCES.md
    assert 3000 < conv[-1].arrival_time_s < 4000  # about one hour


@pytest.mark.skipif(not MOONCAKE.is_dir(), reason=f"real Mooncake trace absent: {MOONCAKE}")
def test_real_mooncake_trace_parses_with_shared_prefixes() -> None:
    reqs = read_mooncake_jsonl(MOONCAKE / "conversation_trace.jsonl")
    assert len(reqs) == 12031
    mean_in = sum(r.num_prompt_tokens for r in reqs) / len(reqs)
    assert abs(mean_in - 12035) < 50  # README: average input length 12,035
    firsts = {r.prefix_hashes[0] for r in reqs if r.prefix_hashes}
    assert len(firsts) < len(reqs) / 2  # many requests share their first block
