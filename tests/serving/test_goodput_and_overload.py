"""Issue 15 item 2: no goodput without an SLO; a warning when the queue grows without bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gputwin.cli.main import main


def _serve(tmp_path: Path, name: str, *extra: str) -> dict[str, Any]:
    main(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
          "--input-tokens", "1000", "--output-tokens", "200", "--quiet", "--no-timing",
          "--out", str(tmp_path / name), *extra])
    services: dict[str, Any] = json.loads((tmp_path / name / "summary.json").read_text())[
        "services"]
    return services["default"]


def test_no_slo_means_no_goodput(tmp_path: Path) -> None:
    s = _serve(tmp_path, "a", "--rate", "2", "--num-requests", "40")
    assert s["slo_attainment_frac"] is None and s["goodput_active_rps"] is None


def test_slo_gives_goodput(tmp_path: Path) -> None:
    s = _serve(tmp_path, "b", "--rate", "2", "--num-requests", "40", "--ttft-slo", "10s")
    assert s["slo_attainment_frac"] == pytest.approx(1.0)
    assert 0 < s["goodput_active_rps"] <= s["throughput_rps"] + 1e-12


def test_goodput_is_named_for_its_denominator(tmp_path: Path) -> None:
    """``simulate serve``'s goodput is per second of the service's active time (first
    measured arrival to last completion), like its throughput; ``plan serve``'s is per
    second of the steady arrival window (``goodput_steady_rps``): two meanings, two names,
    and the old ambiguous ``goodput_rps`` is gone."""
    s = _serve(tmp_path, "c", "--rate", "4", "--num-requests", "60", "--tpot-slo", "8.45ms")
    assert "goodput_rps" not in s
    assert 0 < s["slo_attainment_frac"] < 1
    assert s["goodput_active_rps"] == pytest.approx(
        s["throughput_rps"] * s["slo_attainment_frac"])


def test_overload_warns_light_load_does_not(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    light = _serve(tmp_path, "light", "--rate", "2", "--num-requests", "100")
    assert light["warnings"] == [] and light["queue_growth_rps"] < 0.1
    heavy = _serve(tmp_path, "heavy", "--rate", "100", "--num-requests", "3000")
    assert heavy["queue_growth_rps"] > 0.5 * (heavy["arrival_rps"] - heavy["throughput_rps"])
    assert heavy["queue_growth_rps"] < heavy["arrival_rps"]
    assert len(heavy["warnings"]) == 1 and "overloaded" in heavy["warnings"][0]


def test_prompts_that_need_an_idle_rank_warn(tmp_path: Path) -> None:
    """Chunked prefill off (the trtllm profile): an 8,050-token prompt fits an 8,050-token
    step only without decoders, so it waits for the replica to drain; a budget with room
    for the decoders (64 more tokens) removes the warning and the collapse."""
    common = ("--engine", "trtllm", "--input-tokens", "8050", "--output-tokens", "100",
              "--max-num-seqs", "64", "--concurrency", "64", "--num-requests", "128")
    tight = _serve(tmp_path, "tight", *common, "--max-num-batched-tokens", "8050")
    roomy = _serve(tmp_path, "roomy", *common, "--max-num-batched-tokens", "8114")
    assert len(tight["warnings"]) == 1 and "runs no decoder" in tight["warnings"][0]
    assert tight["warnings"][0].startswith("128 of 128 prompts")
    assert roomy["warnings"] == []
    assert roomy["output_tokens_per_s"] > 2 * tight["output_tokens_per_s"]
    # the HTML report shows the warning above the service's cards, and only where it holds
    assert 'class="warning"' in (tmp_path / "tight" / "report.html").read_text()
    assert 'class="warning"' not in (tmp_path / "roomy" / "report.html").read_text()
