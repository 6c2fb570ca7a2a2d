"""Issue 15 item 7: one bounds policy; huge sizes are refused before any large allocation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from gputwin.cli.main import main
from gputwin.errors import InputError
from gputwin.limits import MAX_GPUS, MAX_JOBS, MAX_REQUESTS, GpuCount, check_at_most


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0), capsys.readouterr().err


def test_check_at_most_names_the_limit() -> None:
    check_at_most(MAX_GPUS.value, MAX_GPUS, "x")
    with pytest.raises(InputError, match=r"^x: got 1,048,577, above the limit of 1,048,576 GPUs"):
        check_at_most(MAX_GPUS.value + 1, MAX_GPUS, "x")


def test_pydantic_type_refuses_above_and_zero() -> None:
    class _M(BaseModel):
        n: GpuCount

    assert _M(n=8).n == 8
    for bad in (0, MAX_GPUS.value + 1):
        with pytest.raises(ValidationError):
            _M(n=bad)


def test_trillion_requests_refused_before_generating(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
                      "--rate", "5", "--num-requests", "1000000000000", "--quiet",
                      "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"above the limit of {MAX_REQUESTS.value:,} requests" in err
    assert not (tmp_path / "o").exists()


def test_ten_million_synthetic_jobs_refused(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["simulate", "--set", "workload.synthetic.num_jobs=10000000", "--quiet",
                      "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and f"above the limit of {MAX_JOBS.value:,} jobs" in err


@pytest.mark.parametrize("command", [
    ["estimate", "collective", "--op", "all_reduce", "--size", "1GiB",
     "--gpu", "h100-sxm-80gb"],
    ["estimate", "train", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
     "--global-batch-size", "1024"],
])
def test_billion_gpus_refused(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run([*command, "--num-gpus", "1000000000"], capsys)
    assert code == 2 and ("--num-gpus" in err or "num_gpus" in err)
    assert "above the limit of 1,048,576 GPUs" in err and "Value error" not in err


@pytest.mark.parametrize(("sets", "gpus"), [
    (["cluster.num_nodes=200000"], "1,600,000"),  # 200,000 nodes of 8 GPUs
    (["cluster.num_nodes=null", "cluster.system=null",
      "cluster.node_groups=[{system: dgx-h100, num_nodes: 100000}, "
      "{system: dgx-a100, num_nodes: 100000}]"], "1,600,000"),
])
def test_cluster_gpus_not_only_nodes_are_bounded(sets: list[str], gpus: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """num_nodes alone was bounded by the GPU limit: 999,999 DGX nodes (8 M GPUs, e.g. from a
    slurm.conf host list gpu[001-999999]) loaded and ran."""
    args = ["simulate", "--quiet", "--outputs", "none"]
    for item in sets:
        args += ["--set", item]
    code, err = _run(args, capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"cluster.num_nodes: got {gpus}, above the limit of 1,048,576 GPUs" in err


def test_nodes_per_rack_is_bounded_like_the_cluster(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: OverflowError traceback from numpy dividing node indices by 10^20
    code, err = _run(["simulate", "--set", "site.racks.nodes_per_rack=99999999999999999999",
                      "--quiet", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "o").exists()
    assert ("site.racks.nodes_per_rack: got 99,999,999,999,999,999,999, above the limit of "
            "1,048,576 GPUs") in err
