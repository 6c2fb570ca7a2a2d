"""Same seed, same summary as before the output, start-up and trace-reader changes.

``golden/*.json`` are ``simulate serve ... --json --no-timing`` summaries written by the
code before those changes (commit f85c889). Every request and latency figure must agree
(1e-9 relative: the simulation is deterministic). Energy, carbon and cost figures are
left to the energy tests: their models change on their own. One deliberate change since:
``mooncake``'s ITL mean (0.0624563 -> 0.0624634 s, 2026-12-07), whose run preempts: the
token a resumed request emits now counts its gap from the request's previous token. And
every ITL mean (at most 0.02 % apart, 2026-12-07): the histogram's mean is now the exact
weighted mean of the values fed (``sum_s / total``), not a bin-centre estimate.

The vllm profile's host times on NVIDIA parts and its API-server latency (fitted on vLLM
0.8.5 rows, 2026-12-07) are a model change, not a plumbing one: these runs pin the
profile's former figures (3.5 ms per step on every vendor, no frontend latency). So are
the KV pool's sizing from vLLM 0.19's memory-profiling logs and the usable memory the
runtime reports (2026-12-08), and vLLM's batch defaults by part (1,024 / 8,192 on large
GPUs, 256 / 2,048 below): these runs pin the calibration's profiling rule, the nominal
memory and the former 256 / 8,192.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serving_builders import run_main

from gputwin.catalog.schema import Accelerator
from gputwin.perf import engines as engines_mod
from gputwin.perf import serving_calib
from gputwin.scenario.paths import data_dir

GOLDEN = Path(__file__).parent / "golden"
TRACES = data_dir() / "traces"
MODEL = ["--model", "llama2-7b", "--gpu", "a100-sxm-80gb", "--max-num-batched-tokens", "512"]
RUNS: dict[str, tuple[list[str], Path | None]] = {
    "synthetic": ([*MODEL, "--rate", "2", "--num-requests", "300", "--seed", "3"], None),
    "azure_conv": ([*MODEL, "--trace", "{trace}", "--max-requests", "400"],
                   TRACES / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"),
    "mooncake": (["--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb", "--replicas", "2",
                  "--router", "prefix_affinity", "--trace", "{trace}", "--trace-format",
                  "mooncake", "--max-requests", "300"],
                 TRACES / "mooncake-fast25" / "conversation_trace.jsonl"),
    "fleet": (["--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--replicas", "4", "--rate",
               "40", "--num-requests", "2000", "--seed", "1"], None),
}
KEYS = ("num_requests", "finished", "dropped", "in_flight", "dropped_by_reason", "truncated",
        "end_time_s", "ttft_s", "tpot_s", "itl_s", "e2e_s", "slo_attainment_frac",
        "goodput_active_rps", "throughput_rps", "output_tokens_per_s", "input_tokens_per_s",
        "output_tokens", "input_tokens", "prefix_cache_hit_frac", "num_preemptions",
        "requests_preempted", "kv_used_frac_mean", "kv_used_frac_peak", "batch_size_mean",
        "num_events", "requests_by_status")


def _same(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys differ"]
        return [m for k in a for m in _same(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, float) or isinstance(b, float):
        ok = a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9,
                                                               abs_tol=1e-12)
        return [] if ok else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a} != {b}"]


@pytest.fixture
def former_vllm_figures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The vllm profile with the host figures and memory sizing the golden runs were
    written with."""
    default, profiles = engines_mod._registry()
    old = dataclasses.replace(profiles["vllm"], vendor_step_overhead_s={},
                              frontend_latency_s=0.0, profiling=None,
                              max_num_batched_tokens=8192, large_gpu_limits=None)
    monkeypatch.setattr(Accelerator, "usable_memory",
                        property(lambda self: self.memory_bytes))
    assert old.step_overhead_s == 0.0035
    patched = (default, {**profiles, "vllm": old})
    monkeypatch.setattr(engines_mod, "_registry", lambda: patched)
    serving_calib.default_serving_calibration.cache_clear()
    yield
    serving_calib.default_serving_calibration.cache_clear()


@pytest.mark.usefixtures("former_vllm_figures")
@pytest.mark.parametrize("name", list(RUNS))
def test_summary_unchanged(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    args, trace = RUNS[name]
    if trace is not None and not trace.is_file():
        pytest.skip(f"real trace absent: {trace}")
    argv = [a.replace("{trace}", str(trace)) for a in args]
    assert run_main(["simulate", "serve", *argv, "--json", "--no-timing",
                     "--outputs", "none"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = json.loads((GOLDEN / f"{name}.json").read_text())
    problems: list[str] = []
    for key in KEYS:
        if key in want:
            problems += _same(got[key], want[key], key)
        for svc, s in want["services"].items():
            if key in s:
                problems += _same(got["services"][svc][key], s[key], f"{svc}/{key}")
    assert not problems, problems[:10]
