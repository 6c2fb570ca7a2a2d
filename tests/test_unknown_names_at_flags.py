"""An unknown catalog, region or model name (or a power cap below the driver's minimum) is
reported at the flag that gave it, the rule of every other option; these answered
`unknown ... 'x'` without naming the flag."""

from __future__ import annotations

import pytest
from tests.cli_run import run_cli


def _refused_at(args: list[str], prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2, nothing on stdout, and one error that starts with ``prefix`` (the flag)."""
    code, out, err = run_cli(args, capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {prefix}"), err


@pytest.mark.parametrize(("args", "prefix"), [
    (["estimate", "train", "--model", "nope", "--gpu", "h100-sxm-80gb", "--num-gpus", "8",
      "--global-batch-size", "8"], "--model: unknown model 'nope'"),
    (["plan", "train", "--model", "nope", "--gpu", "h100-sxm-80gb", "--num-gpus", "8"],
     "--model: unknown model 'nope'"),
    (["estimate", "dataflow", "--model", "nope", "--gpu", "groq-lpu"],
     "--model: unknown model 'nope'"),
    (["estimate", "energy", "--gpu", "h100-sxm-80gb", "--region", "XX"],
     "--region: unknown region 'XX'"),
    (["estimate", "energy", "--gpu", "h100-sxm-80gb", "--power-cap", "50"],
     "--power-cap: power cap 50 W is below the 203 W minimum"),
    (["economics", "supply", "--load-mw", "1", "--region", "XX"],
     "--region: unknown region 'XX'"),
    (["economics", "distill", "--teacher", "nope", "--student", "llama3-8b",
      "--tokens-per-day", "1e9"], "--teacher: unknown model 'nope'"),
    (["economics", "distill", "--teacher", "llama3-8b", "--student", "nope",
      "--tokens-per-day", "1e9"], "--student: unknown model 'nope'"),
])
def test_unknown_name_names_its_flag(args: list[str], prefix: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _refused_at(args, prefix, capsys)


@pytest.mark.parametrize(("args", "prefix"), [
    (["estimate", "train", "--model", "", "--gpu", "h100-sxm-80gb", "--num-gpus", "8",
      "--global-batch-size", "8"], "--model: unknown model ''"),
    (["catalog", "show", ""], "unknown catalog entry ''"),
])
def test_an_empty_model_name_is_not_the_current_folder(args: list[str], prefix: str,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """`--model ""` was read as ./config.json: `config.json: no such Hugging Face config`."""
    _refused_at(args, prefix, capsys)


SERVE = ["--gpu", "h100-sxm-80gb", "--input-tokens", "100", "--output-tokens", "10"]
TRAIN = ["estimate", "train", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--num-gpus",
         "16", "--global-batch-size", "64"]
GEMM = ["estimate", "kernel", "--op", "gemm", "--m", "64", "--n", "64", "--k", "64"]


@pytest.mark.parametrize(("args", "prefix"), [
    # was: "unknown model 'nope'" (no flag) from these commands' model lookups
    (["estimate", "serve", "--model", "nope", *SERVE], "--model: unknown model 'nope'"),
    (["estimate", "serve", "--model", "llama3-8b", *SERVE, "--spec-tokens", "2",
      "--spec-kind", "draft_model", "--draft-model", "nope"],
     "--draft-model: unknown model 'nope'"),
    (["estimate", "tco", "--model", "nope", "--tokens-per-day", "1e9"],
     "--model: unknown model 'nope'"),
    (["estimate", "rag", "--model", "nope"], "--model: unknown model 'nope'"),
    (["plan", "serve", "--model", "nope", "--rate", "1", "--input-tokens", "10",
      "--output-tokens", "10", "--ttft-slo", "1s"], "--model: unknown model 'nope'"),
    (["economics", "train", "--gpu", "nope", "--gpu-hours", "10"],
     "--gpu: unknown accelerator 'nope'"),
    # was: "--transceiver: ..." for the NIC's flag
    (["estimate", "fat-tree-optics", "--nic-transceiver", "nope"],
     "--nic-transceiver: unknown transceiver 'nope'"),
    # was: "unknown accelerator" and "dtype:" (no flag)
    ([*GEMM, "--gpu", "nope"], "--gpu: unknown accelerator 'nope'"),
    ([*GEMM, "--gpu", "h100-sxm-80gb", "--dtype", "fp9"], "--dtype: h100-sxm-80gb has no"),
])
def test_more_unknown_names_name_their_flag(args: list[str], prefix: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _refused_at(args, prefix, capsys)


@pytest.mark.parametrize(("args", "prefix"), [
    # each was read as "not given": the default fabric, no storage, the system's cooling
    ([*TRAIN, "--fabric", ""], "--fabric: unknown fabric ''"),
    ([*TRAIN, "--storage", ""], "--storage: unknown storage tier ''"),
    (["estimate", "tco", "--model", "llama3-8b", "--tokens-per-day", "1e9", "--cooling", ""],
     "--cooling: unknown cooling type ''"),
    (["economics", "owned", "--gpu", "h100-sxm-80gb", "--cooling", ""],
     "--cooling: unknown cooling type ''"),
])
def test_an_empty_name_is_unknown_not_the_default(args: list[str], prefix: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _refused_at(args, prefix, capsys)
