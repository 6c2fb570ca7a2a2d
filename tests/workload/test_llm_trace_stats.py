"""LLM request traces by format: one reader dispatch, and `gputwin workload stats` on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from click.testing import CliRunner

from gputwin.cli.main import cli
from gputwin.errors import InputError
from gputwin.requests import ServePlanRequest
from gputwin.scenario.paths import data_dir
from gputwin.scenario.serving_workload import LengthTraceOptions, TraceSource
from gputwin.workload.llm_request import LlmRequest
from gputwin.workload.llm_traces import (
    LLM_TRACE_FORMATS,
    llm_trace_stats,
    prefix_reuse_frac,
    read_llm_trace,
)

AZURE = ("TIMESTAMP,ContextTokens,GeneratedTokens\n"
         "2023-11-16 18:00:00.0,100,10\n2023-11-16 18:00:30.0,300,0\n"
         "2023-11-16 18:01:00.0,200,30\n2023-11-16 18:02:00.0,600,20\n")
CONV = data_dir() / "traces" / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"
MOONCAKE = data_dir() / "traces" / "mooncake-fast25" / "conversation_trace.jsonl"


def _azure(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(AZURE, encoding="utf-8")
    return path


def test_every_schema_and_request_offers_the_formats_the_reader_reads() -> None:
    fields = (TraceSource.model_fields["format"], LengthTraceOptions.model_fields["format"],
              ServePlanRequest.model_fields["trace_format"])
    assert all(get_args(f.annotation) == LLM_TRACE_FORMATS for f in fields)


def test_stats_of_a_small_trace_are_counted_by_hand(tmp_path: Path) -> None:
    skipped: dict[str, int] = {}
    reqs = read_llm_trace("azure", _azure(tmp_path), skipped=skipped)
    assert skipped == {"0 generated tokens": 1}
    s = llm_trace_stats(reqs)
    assert s["num_requests"] == 3 and s["span_s"] == 120.0
    assert s["rate_per_s"] == pytest.approx(3 / 120)
    assert s["peak_minute_rate_per_s"] == pytest.approx(1 / 60)  # one request a minute
    assert s["prompt_tokens"]["mean"] == pytest.approx(300.0)
    assert s["prompt_tokens"]["p50"] == 200.0 and s["prompt_tokens"]["max"] == 600.0
    assert s["total_output_tokens"] == 60 and s["prefix_reuse_frac"] is None


def test_peak_minute_of_a_sparse_trace_over_decades() -> None:
    # three requests in one minute, one 30 years later: counted per used minute bin
    reqs = [LlmRequest(i, t, 100, 10) for i, t in enumerate([0.0, 10.0, 59.0, 9.4e8])]
    s = llm_trace_stats(reqs)
    assert s["peak_minute_rate_per_s"] == pytest.approx(3 / 60)
    assert s["span_s"] == 9.4e8


def test_prefix_reuse_counts_blocks_an_earlier_request_sent() -> None:
    reqs = [LlmRequest(0, 0.0, 1024, 1, prefix_hashes=(1, 2)),
            LlmRequest(1, 1.0, 1500, 1, prefix_hashes=(1, 2, 3)),  # 1,024 reused
            LlmRequest(2, 2.0, 600, 1, prefix_hashes=(1, 4))]  # 512 reused
    assert prefix_reuse_frac(reqs) == pytest.approx((1024 + 512) / (1024 + 1500 + 600))


def test_unknown_format_and_empty_trace_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="known: azure, mooncake, burstgpt"):
        read_llm_trace("sharegpt", _azure(tmp_path))
    empty = tmp_path / "e.csv"
    empty.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,5,0\n",
                     encoding="utf-8")
    with pytest.raises(InputError, match=r"no request \(rows skipped: 1 with 0 generated"):
        read_llm_trace("azure", empty)


def test_workload_stats_reads_an_llm_trace(tmp_path: Path) -> None:
    path = _azure(tmp_path)
    res = CliRunner().invoke(cli, ["workload", "stats", str(path), "--format", "azure",
                                   "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["num_requests"] == 3 and s["skipped"] == {"0 generated tokens": 1}
    text = CliRunner().invoke(cli, ["workload", "stats", str(path), "--format", "azure",
                                    "--set", "max_requests=2"])
    assert text.exit_code == 0, text.output
    assert "requests     2 over" in text.output
    assert "1 row left out (0 generated tokens: 1)" in text.output


@pytest.mark.parametrize(("args", "message"), [
    (["stats", "--format", "azure", "--set", "cluster=c1"], "unknown option(s) cluster"),
    (["fit", "--format", "azure"], "fit reads cluster traces"),
    (["stats", "--format", "azure", "--set", "speedup=fast"], "expected int or float"),
    (["stats", "--format", "azure", "--set", "max_requests=0"], "max_requests"),
])
def test_workload_llm_misuse_is_a_clear_error(tmp_path: Path, args: list[str],
                                              message: str) -> None:
    res = CliRunner().invoke(cli, ["workload", args[0], str(_azure(tmp_path)), *args[1:]])
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    assert message in str(res.exception)


@pytest.mark.skipif(not CONV.is_file(), reason=f"Azure LLM trace not present at {CONV}")
def test_azure_conversation_trace_matches_its_published_medians() -> None:
    """Splitwise (Patel et al., ISCA 2024) characterises the conversation trace by a median
    prompt of 1,020 tokens and a median output of 129 tokens."""
    s = llm_trace_stats(read_llm_trace("azure", CONV))
    assert s["num_requests"] == 19_366
    assert s["prompt_tokens"]["p50"] == 1020 and s["output_tokens"]["p50"] == 129


@pytest.mark.skipif(not MOONCAKE.is_file(), reason=f"Mooncake trace not present at {MOONCAKE}")
def test_mooncake_conversation_trace_matches_its_published_means() -> None:
    """The Mooncake FAST'25 trace release (kvcache-ai/Mooncake, README of the traces;
    Qin et al., FAST 2025): the conversation trace holds 12,031 requests averaging 12,035
    input and 343 output tokens; its prefix ids let a cache reuse part of later prompts."""
    s = llm_trace_stats(read_llm_trace("mooncake", MOONCAKE))
    assert s["num_requests"] == 12_031
    assert round(s["prompt_tokens"]["mean"]) == 12_035
    assert round(s["output_tokens"]["mean"]) == 343
    assert 0.0 < s["prefix_reuse_frac"] < 1.0
