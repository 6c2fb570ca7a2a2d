"""The API server's latency per request (``frontend_latency_s``): TTFT and end-to-end
latency as the client sees them, TPOT untouched, closed-loop clients slowed by it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from serving_builders import run_main

from gputwin.perf.engines import engine_profile

RUN = ["simulate", "serve", "--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb",
       "--input-tokens", "300", "--output-tokens", "60", "--num-requests", "80",
       "--seed", "5", "--json", "--no-timing", "--outputs", "none"]


def _summary(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert run_main([*RUN, *extra]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_it_adds_to_ttft_and_e2e_not_to_tpot(capsys: pytest.CaptureFixture[str]) -> None:
    base = _summary(capsys, "--rate", "4", "--frontend-latency", "0")
    slow = _summary(capsys, "--rate", "4", "--frontend-latency", "25ms")
    for key in ("p50", "p90", "p99", "mean"):
        assert slow["ttft_s"][key] - base["ttft_s"][key] == pytest.approx(0.025, abs=1e-9)
        assert slow["e2e_s"][key] - base["e2e_s"][key] == pytest.approx(0.025, abs=1e-9)
        assert slow["tpot_s"][key] == pytest.approx(base["tpot_s"][key], rel=1e-12)
    assert slow["num_events"] == base["num_events"]  # the engine ran the same steps
    assert slow["services"]["default"]["frontend_latency_s"] == pytest.approx(0.025)


def test_vllm_takes_its_profile_latency_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    own = engine_profile("vllm").frontend_latency_s
    assert own > 0
    default = _summary(capsys, "--rate", "4")
    none = _summary(capsys, "--rate", "4", "--frontend-latency", "0")
    assert default["ttft_s"]["p50"] - none["ttft_s"]["p50"] == pytest.approx(own, abs=1e-9)


def test_a_closed_loop_client_waits_for_it(capsys: pytest.CaptureFixture[str]) -> None:
    """One client: every request but the first is sent after the previous answer reached
    the client, so the run lasts (requests - 1) latencies longer."""
    base = _summary(capsys, "--concurrency", "1", "--frontend-latency", "0")
    slow = _summary(capsys, "--concurrency", "1", "--frontend-latency", "50ms")
    assert slow["tpot_s"]["p50"] == pytest.approx(base["tpot_s"]["p50"], rel=1e-12)
    assert slow["ttft_s"]["p50"] - base["ttft_s"]["p50"] == pytest.approx(0.05, abs=1e-9)
    assert slow["output_tokens_per_s"] < base["output_tokens_per_s"]
    assert slow["end_time_s"] - base["end_time_s"] == pytest.approx(79 * 0.05, rel=1e-6)


@pytest.mark.parametrize("value", ["-1ms", "2min"])
def test_a_latency_out_of_range_is_refused(value: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main([*RUN, "--rate", "4", "--frontend-latency", value]) == 2
    assert "frontend" in capsys.readouterr().err
