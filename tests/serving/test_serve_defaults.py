"""``simulate serve`` runs without --model or --gpu (issue 16's command as written) on the
documented defaults, and names them in the summary."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gputwin.cli.main import cli
from gputwin.cli.serve_scenario import DEFAULT_GPU, DEFAULT_MODEL


def _run(*args: str) -> str:
    res = CliRunner().invoke(cli, ["simulate", "serve", "--rate", "5", "--outputs", "none",
                                   *args])
    assert res.exit_code == 0, res.output
    return res.output


def test_defaults_model_and_gpu() -> None:
    summary = json.loads(_run("--num-requests", "30", "--json"))
    assert (summary["model"], summary["gpu"]) == (DEFAULT_MODEL, DEFAULT_GPU)
    assert summary["requests_by_status"]["finished"] == 30


def test_system_without_gpu_is_not_overridden() -> None:
    summary = json.loads(_run("--system", "dgx-b200", "--num-requests", "10", "--json"))
    assert summary["gpu"] == "b200"


def test_human_summary_names_the_service() -> None:
    out = _run("--num-requests", "10")
    assert DEFAULT_MODEL in out and DEFAULT_GPU in out


def test_rtx_pro_6000_serves_fp4_with_trtllm() -> None:
    """The RTX PRO 6000 Blackwell Server Edition has FP4 tensor cores: Llama 3.3 70B in
    NVFP4 fits one card and serves."""
    summary = json.loads(_run("--gpu", "rtx-pro-6000", "--engine", "trtllm", "--weights", "fp4",
                              "--model", "llama3.3-70b", "--num-requests", "20", "--json"))
    assert summary["gpu"] == "rtx-pro-6000"
