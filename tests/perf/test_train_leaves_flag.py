"""`estimate train --num-leaves-spanned` above the job's node count is refused at the flag
(a 64-GPU job on 8 nodes under 1,000 leaf switches used to be estimated without a word)."""

from __future__ import annotations

import pytest
from tests.cli_run import run_cli

JOB = ["estimate", "train", "--model", "gpt3-175b", "--gpu", "a100-sxm-80gb", "--num-gpus",
       "64", "--tp", "8", "--pp", "8", "--global-batch-size", "64"]


def test_more_leaves_than_nodes_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*JOB, "--num-leaves-spanned", "9"], capsys)
    assert code == 2 and out == ""
    assert "--num-leaves-spanned: 9 leaf switches for a job of 8 node(s)" in err


def test_one_leaf_per_node_is_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*JOB, "--num-leaves-spanned", "8", "--json"], capsys)
    assert code == 0, err
    assert '"step_time_s"' in out
