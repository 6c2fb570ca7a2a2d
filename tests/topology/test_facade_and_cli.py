"""estimate_collective facade, CLI and the published-figure suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gputwin.catalog.loader import Catalog
from gputwin.cli.estimate_collective import collective
from gputwin.errors import InputError, UnknownNameError
from gputwin.requests import CollectiveRequest, validated
from gputwin.run.estimate_collective import collective_flag, estimate_collective
from gputwin.validation.runner import CASES_DIR, load_cases, run_case

CASES = load_cases([CASES_DIR / "collectives.yaml"])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_published_figure_within_tolerance(case: object) -> None:
    result = run_case(case)  # type: ignore[arg-type]
    assert result.error == ""
    assert result.passed, f"{result.case.id}: predicted {result.predicted}, " \
        f"published {result.case.published} (error {result.rel_error:+.1%})"


def test_suite_has_hold_outs_and_calibrations() -> None:
    assert len(CASES) >= 6
    assert any(c.calibration for c in CASES) and any(not c.calibration for c in CASES)


def test_facade_with_test_catalog(catalog: Catalog) -> None:
    est = estimate_collective(CollectiveRequest(op="all_reduce", size_bytes=2**30, num_gpus=16,
                                                system="node-8nic"), catalog=catalog)
    assert est.num_nodes == 2 and est.time_s > 0


@pytest.mark.parametrize(("kwargs", "option"), [
    ({"op": "allreduce"}, "--op"),
    ({"size_bytes": 0.0}, "--size"),
    ({"size_bytes": float("nan")}, "--size"),
    ({"num_gpus": 0}, "--num-gpus"),
    ({"algorithm": "magic"}, "--algorithm"),
    ({"topology": "dragonfly"}, "--topology"),
    ({"oversubscription": 0.5}, "--oversubscription"),
    ({"nodes_per_leaf": 0}, "--nodes-per-leaf"),
    ({"rank_stride": 0}, "--rank-stride"),
])
def test_facade_rejects_bad_input_naming_the_option(catalog: Catalog, kwargs: dict[str, object],
                                                    option: str) -> None:
    args: dict[str, object] = {"op": "all_reduce", "size_bytes": 1e9, "num_gpus": 8,
                               "system": "node-8nic"}
    args.update(kwargs)
    with pytest.raises(InputError, match=option):
        estimate_collective(validated(CollectiveRequest, args, where=collective_flag),
                            catalog=catalog)


def test_facade_unknown_gpu_suggests(catalog: Catalog) -> None:
    with pytest.raises(UnknownNameError):
        estimate_collective(CollectiveRequest(op="all_reduce", size_bytes=1e9, num_gpus=8,
                                              gpu="gpu-y"), catalog=catalog)


def test_cli_human_and_json() -> None:
    runner = CliRunner()
    out = runner.invoke(collective, ["--size", "1GiB", "--num-gpus", "16", "--gpu",
                                     "h100-sxm-80gb"])
    assert out.exit_code == 0, out.output
    assert "busbw" in out.output and "GB/s" in out.output
    out = runner.invoke(collective, ["--op", "all_gather", "--size", "256MB", "--num-gpus", "8",
                                     "--gpu", "h100-sxm-80gb", "--json"])
    payload = json.loads(out.output)
    assert payload["op"] == "all_gather" and payload["size_bytes"] == 256e6
    assert payload["busbw_bytes_per_s"] < 450e9


def test_cli_bad_input_exits_2_with_one_line() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "gputwin.cli.main", "estimate", "collective", "--size", "1GB",
         "--num-gpus", "16", "--gpu", "h100-sxm-80gb", "--topology", "single_node"],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parent)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
