"""Tenant fair-share weights must be > 0: DRF divides by them and multifactor normalises
by their sum, so 0 or a negative weight used to end in a ZeroDivisionError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli_run import run_cli

from gputwin.errors import InputError
from gputwin.scenario import load_scenario

BASE = """\
name: shares
horizon: 1d
cluster: {system: dgx-h100, num_nodes: 2}
workload:
  synthetic:
    num_jobs: 6
    arrival: {mean_interarrival: 10min}
    templates:
      - {tenant: a, model: llama3-8b, num_gpus: 8, duration: 1h}
      - {tenant: b, model: llama3-8b, num_gpus: 8, duration: 1h}
scheduler:
  profile: %s
  %s
"""


@pytest.mark.parametrize(("profile", "section", "field"), [
    ("drf", "args: {drf: {tenant_shares: {a: 0}}}", "tenant_shares.a"),
    ("drf", "args: {drf: {tenant_shares: {a: -1}}}", "tenant_shares.a"),
    ("multifactor", "args: {multifactor: {tenant_shares: {a: 0}}}", "tenant_shares.a"),
    ("multifactor", "args: {multifactor: {tenant_shares: {a: -1, b: 1}}}", "tenant_shares.a"),
    ("fifo", "tenant_shares: {a: -2}", "scheduler.tenant_shares.a"),
    ("fifo", "tenant_shares: {a: 0, b: 0}", "scheduler.tenant_shares.a"),
])
def test_non_positive_tenant_share_is_refused(tmp_path: Path, profile: str, section: str,
                                              field: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE % (profile, section))
    with pytest.raises(InputError, match="greater than 0") as info:
        load_scenario(path)
    assert field in str(info.value)


def test_zero_share_cli_exits_2_without_traceback(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE % ("drf", "args: {drf: {tenant_shares: {a: 0}}}"))
    code, _, err = run_cli(["simulate", "scenario", str(path), "--outputs", "none", "-q"],
                           capsys)
    assert code == 2
    assert "Traceback" not in err and "tenant_shares" in err


def test_positive_shares_still_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE % ("drf", "args: {drf: {tenant_shares: {a: 3, b: 1}}}"))
    code, out, err = run_cli(["simulate", "scenario", str(path), "--outputs", "none", "-q",
                              "--json"], capsys)
    assert code == 0, err
    assert '"completed": 6' in out
