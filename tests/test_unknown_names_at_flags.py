"""An unknown catalog, region or model name (or a power cap below the driver's minimum) is
reported at the flag that gave it, the rule of every other option; these answered
`unknown ... 'x'` without naming the flag."""

from __future__ import annotations

import pytest
from tests.cli_run import run_cli


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
    code, out, err = run_cli(args, capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {prefix}"), err


@pytest.mark.parametrize(("args", "prefix"), [
    (["estimate", "train", "--model", "", "--gpu", "h100-sxm-80gb", "--num-gpus", "8",
      "--global-batch-size", "8"], "--model: unknown model ''"),
    (["catalog", "show", ""], "unknown catalog entry ''"),
])
def test_an_empty_model_name_is_not_the_current_folder(args: list[str], prefix: str,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """`--model ""` was read as ./config.json: `config.json: no such Hugging Face config`."""
    code, _, err = run_cli(args, capsys)
    assert code == 2 and err.startswith(f"error: {prefix}"), err
