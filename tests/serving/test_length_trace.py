"""``--length-trace FILE --rate R`` (and ``lengths:`` in a scenario): prompt/output
lengths from a trace, arrivals from the synthetic process, deterministic by seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serving_builders import run_main

from gputwin.errors import InputError
from gputwin.run.serving_requests import build_requests
from gputwin.scenario.serving import ServingScenario
from gputwin.sim.rng import RandomStreams
from gputwin.workload.llm_azure import read_azure_llm_csv
from gputwin.workload.llm_synthetic import lengths_from_trace


def _trace(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = [f"2023-11-16 18:00:{i:02d}.{i:07d},{rng.integers(10, 3000)},{rng.integers(1, 400)}"
            for i in range(37)]
    path = tmp / "lengths.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "\n".join(rows) + "\n")
    return path


def _scenario(n: int, lengths: dict[str, str] | None, seed: int = 0) -> ServingScenario:
    src: dict[str, object] = {"kind": "synthetic", "num_requests": n,
                              "arrival": {"process": "gamma", "rate": 2.0, "cv": 2.0}}
    if lengths is not None:
        src["lengths"] = lengths
    return ServingScenario.model_validate({"name": "lt", "seed": seed, "serving": {
        "services": [{"name": "default", "model": "llama2-7b", "gpu": "a100-sxm-80gb"}],
        "workload": [src]}})


def test_sequential_lengths_follow_the_trace_and_arrivals_stay(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    trace = read_azure_llm_csv(path)
    reqs = build_requests(_scenario(100, {"path": str(path)}), RandomStreams(0))
    plain = build_requests(_scenario(100, None), RandomStreams(0))
    assert [r.arrival_time_s for r in reqs] == [r.arrival_time_s for r in plain]
    want = [(trace[i % 37].num_prompt_tokens, trace[i % 37].num_output_tokens)
            for i in range(100)]
    assert [(r.num_prompt_tokens, r.num_output_tokens) for r in reqs] == want


def test_random_lengths_are_seeded(tmp_path: Path) -> None:
    path = _trace(tmp_path)
    spec = {"path": str(path), "sample": "random"}

    def pairs(seed: int) -> list[tuple[int, int]]:
        reqs = build_requests(_scenario(200, spec, seed), RandomStreams(seed))
        return [(r.num_prompt_tokens, r.num_output_tokens) for r in reqs]

    trace = {(r.num_prompt_tokens, r.num_output_tokens) for r in read_azure_llm_csv(path)}
    assert pairs(1) == pairs(1) != pairs(2)
    assert set(pairs(1)) <= trace and len(set(pairs(1))) > 20


def test_lengths_and_distributions_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        ServingScenario.model_validate({"name": "x", "serving": {
            "services": [{"name": "default", "model": "llama2-7b", "gpu": "a100-sxm-80gb"}],
            "workload": [{"kind": "synthetic", "num_requests": 5, "arrival": {"rate": 1.0},
                          "prompt": {"value": 10}, "lengths": {"path": "x.csv"}}]}})
    with pytest.raises(InputError, match="no usable"):
        lengths_from_trace([], 3)


def test_cli_length_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _trace(tmp_path)
    base = ["simulate", "serve", "--model", "llama2-7b", "--gpu", "a100-sxm-80gb",
            "--rate", "2", "--num-requests", "50", "--outputs", "none"]
    assert run_main([*base, "--length-trace", str(path), "--json"]) == 0
    assert '"num_requests": 50' in capsys.readouterr().out
    assert run_main([*base, "--length-trace", str(path), "--input-tokens", "100"]) == 2
    assert "--length-trace" in capsys.readouterr().err
    assert run_main([*base, "--length-trace", str(path), "--trace", str(path)]) == 2
    capsys.readouterr()
    assert run_main([*base, "--length-trace", str(tmp_path / "missing.csv")]) == 2
    assert "--length-trace" in capsys.readouterr().err
