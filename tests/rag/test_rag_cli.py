"""`gputwin estimate rag` and `gputwin simulate examples/rag.yaml` (issue 10, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gputwin.cli.main import cli, main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``main(args)``; it must exit 2. Returns what it printed."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    out = capsys.readouterr()
    return out.out + out.err


def estimate(*args: str) -> dict[str, object]:
    out = runner.invoke(cli, ["estimate", "rag", "--model", "llama3.1-8b", "--json", *args])
    assert out.exit_code == 0, out.output
    data: dict[str, object] = json.loads(out.output)
    return data


def test_estimate_rag_json_has_every_stage_and_memory() -> None:
    d = estimate("--reranker", "bge-reranker-v2-m3", "--hybrid")
    for key in ("embed_s", "retrieve_s", "rerank_s", "ttft_s", "e2e_s", "recall", "memory"):
        assert key in d
    stages = sum(float(d[k]) for k in ("embed_s", "retrieve_s", "rerank_s", "llm_ttft_s"))
    assert float(d["ttft_s"]) == pytest.approx(stages)
    assert float(d["e2e_s"]) > float(d["ttft_s"]) > float(d["llm_ttft_s"]) > 0
    mem = d["memory"]
    assert isinstance(mem, dict) and mem["index_bytes"] > 1e10 and mem["reranker_bytes"] > 0


def test_no_reranker_costs_nothing_and_cached_chunks_cut_the_prefill() -> None:
    cold, warm = estimate(), estimate("--prefix-hit", "1")
    assert cold["rerank_s"] == 0.0 and cold["memory"]["reranker_bytes"] == 0.0  # type: ignore[index]
    assert float(warm["llm_ttft_s"]) < float(cold["llm_ttft_s"]) / 5


def test_search_effort_trades_recall_for_latency() -> None:
    lo, hi = estimate("--ef-search", "16"), estimate("--ef-search", "512")
    assert float(lo["recall"]) < float(hi["recall"])
    assert float(lo["retrieve_s"]) < float(hi["retrieve_s"])
    gpu = estimate("--index", "cagra")
    assert float(gpu["retrieve_s"]) < float(estimate()["retrieve_s"])


@pytest.mark.parametrize(("args", "where"), [
    (["--top-k", "0"], "--top-k"), (["--embedder", "bge-reranker-v2-m3"], "embedder"),
    (["--index", "ivf_pq", "--pq-bytes", "4096"], "--pq-bytes"), (["--corpus", "0.5"], "--corpus"),
    (["--reranker", "nope"], "nope"),
    (["--index", "cagra", "--corpus", "1e8", "--gpu", "l4"], "--shards"),
])
def test_bad_flags_exit_2_naming_the_flag(args: list[str], where: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert where in fails(["estimate", "rag", "--model", "llama3.1-8b", *args], capsys)


@pytest.mark.parametrize(("flag", "kind"), [
    ("--index-gpu", "accelerator"), ("--gpu", "accelerator"), ("--embed-gpu", "accelerator"),
    ("--model", "model"), ("--embedder", "encoder"), ("--reranker", "encoder")])
@pytest.mark.parametrize("index", ["hnsw", "cagra"])
def test_an_unknown_name_is_reported_at_its_flag(flag: str, kind: str, index: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # was: "unknown accelerator 'nosuch'" naming no flag, and --index-gpu was not checked
    # at all with a CPU index (exit 0)
    text = fails(["estimate", "rag", "--index", index, flag, "nosuch"], capsys)
    assert text.startswith(f"error: {flag}: unknown {kind} 'nosuch'"), text
    assert "Traceback" not in text and text.strip().count("\n") == 0


def test_simulate_rag_example_reports_stages_and_loses_no_request(tmp_path: Path) -> None:
    out = runner.invoke(cli, ["simulate", str(EXAMPLES / "rag.yaml"), "--json",
                              "--outputs", "summary,report", "--out",
                              str(tmp_path / "o"), "--set",
                              "serving.workload.0.num_requests=400"])
    assert out.exit_code == 0, out.output
    s = json.loads(out.output[out.output.index("{"):])
    by = s["requests_by_status"]
    assert by["finished"] + by["dropped"] + by["in_flight"] == s["num_requests"] == 400
    rag = s["rag"]
    assert rag["num_requests"] == 400
    for stage in ("embed_s", "retrieve_s", "rerank_s", "llm_ttft_s", "ttft_s", "e2e_s"):
        assert rag[stage]["p50"] > 0 and rag[stage]["p99"] >= rag[stage]["p50"]
    assert rag["ttft_s"]["mean"] == pytest.approx(rag["front_s"]["mean"]
                                                 + rag["llm_ttft_s"]["mean"], rel=1e-6)
    assert "RAG pipeline" in (tmp_path / "o" / "report.html").read_text()


def test_horizon_leaves_requests_in_flight_not_lost(tmp_path: Path) -> None:
    out = runner.invoke(cli, ["simulate", str(EXAMPLES / "rag.yaml"), "--json", "--out",
                              str(tmp_path / "o"), "--set", "serving.workload.0.num_requests=300",
                              "--set", "horizon=10s"])
    assert out.exit_code == 0, out.output
    s = json.loads(out.output[out.output.index("{"):])
    by = s["requests_by_status"]
    assert by["in_flight"] > 0
    assert by["finished"] + by["dropped"] + by["in_flight"] == 300
    assert sum(s["rag"]["requests_by_status"].values()) == 300


@pytest.mark.parametrize(("edit", "key"), [
    ("model: bge-large-en-v1.5, gpu: l40s, replicas: 1, max_batch: 32",
     "pipeline.embedder.model"),
])
def test_bad_pipeline_spec_exits_2_naming_file_line_and_key(
        tmp_path: Path, edit: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = (EXAMPLES / "rag.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit, edit.replace("bge-large-en-v1.5", "bge-huge")))
    out = fails(["simulate", str(bad), "--json"], capsys)
    assert "bad.yaml:" in out and key in out, out


@pytest.mark.parametrize(("old", "new", "key"), [
    ("type: hnsw", "type: annoy", "index.type"),
    ("corpus: 10000000", "corpus: -5", "index.corpus"),
    ("shards: 2", "shards: 20000000", "index.shards"),
    ("candidates: 20}", "candidates: 20, cpu: 4}", "reranker.cpu"),
    ("gpu: l40s, replicas: 2", "gpu: l41s, replicas: 2", "reranker.gpu"),
    ("candidates: 20}", "candidates: 2}", "reranker.candidates"),
    ("type: hnsw", "type: cagra", "pipeline.index"),
    ("type: hnsw\n          corpus: 10000000", "type: cagra\n          gpu: l4\n"
     "          corpus: 100000000", "index.shards"),
])
def test_bad_index_and_reranker_fields_name_line_and_key(
        tmp_path: Path, old: str, new: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = (EXAMPLES / "rag.yaml").read_text()
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new))
    out = fails(["simulate", str(bad), "--json"], capsys)
    assert "bad.yaml:" in out and key in out, out


@pytest.mark.parametrize("args", [["--top-k", "100000"], ["--chunk-tokens", "1000000"],
                                  ["--model", "llama2-7b", "--top-k", "8"]])
def test_a_prompt_beyond_the_llm_context_is_refused(args: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Used to print a 51M-token prefill (hours of TTFT) for a 128K-context model."""
    text = fails(["estimate", "rag", *args], capsys)
    assert "exceeds the" in text and "-token context of" in text and "Traceback" not in text


def test_a_prompt_within_the_context_still_runs() -> None:
    data = estimate("--top-k", "200", "--chunk-tokens", "512")  # 102,464 of 131,072 tokens
    assert data["prompt_tokens"] == 200 * 512 + 64
