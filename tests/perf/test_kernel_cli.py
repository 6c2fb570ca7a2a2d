"""``gputwin estimate kernel``: output, agreement with perf/kernel.py, exit code 2."""

from __future__ import annotations

import json

import pytest
from tests.cli_run import run_cli

from gputwin.perf.kernel import attention_estimate, gemm_estimate


def test_gemm_json_matches_the_module(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["estimate", "kernel", "--gpu", "b200", "--op", "gemm", "--m", "4096",
                            "--n", "8192", "--k", "2048", "--dtype", "fp8", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["tflops"] == pytest.approx(gemm_estimate("b200", "fp8", 4096, 8192, 2048).tflops)
    assert "serving_tflops" not in data
    assert data["memory_bound"] is False and data["traffic_bytes"] > 0


def test_attention_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["estimate", "kernel", "--gpu", "gb200", "--op", "attention",
                            "--head-dim", "192", "--head-dim-v", "128"], capsys)
    assert code == 0
    rate = attention_estimate("gb200", "bf16", 192, head_dim_v=128).tflops
    assert f"{rate:,.1f} TFLOP/s" in out
    assert "serving prefill-attention rate" in out


@pytest.mark.parametrize("args", [
    ["--gpu", "h100-sxm-80gb", "--op", "gemm", "--m", "1024"],
    ["--gpu", "a100-sxm-80gb", "--op", "gemm", "--m", "8", "--n", "8", "--k", "8",
     "--dtype", "fp8"],
    ["--gpu", "no-such-part", "--op", "attention"],
    ["--gpu", "gb200", "--op", "attention", "--head-dim", "0"],
    ["--gpu", "gb200", "--op", "conv"],
    ["--gpu", "gb200", "--op", "attention", "--pass", "both"],
])
def test_bad_input_exits_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["estimate", "kernel", *args], capsys)
    assert code == 2
    assert "Traceback" not in err
