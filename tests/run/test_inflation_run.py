"""``experiment: workload_inflation`` end to end on a tiny hand-written openb trace (no
data folder needed): the summary's curves, the report's figure, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.report.html import render_report
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

NODES = "sn,cpu_milli,memory_mib,gpu,model\n" + "".join(
    f"n{i},32000,262144,{g},G1\n" for i, g in enumerate([8, 8, 4, 4, 2, 2, 1, 1]))
PODS = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n"
        "p0,4000,8192,1,500,,LS,Running,0,100,0\n"
        "p1,4000,8192,1,250,,LS,Running,0,100,0\n"
        "p2,8000,16384,2,1000,,LS,Running,0,100,0\n"
        "p3,16000,32768,4,1000,,LS,Running,0,100,0\n"
        "p4,2000,4096,1,1000,,BE,Running,0,100,0\n"
        "c0,24000,65536,0,0,,BE,Running,0,100,0\n")


def _scenario(tmp_path: Path, profile: str, extra: str = "") -> Path:
    (tmp_path / "pods.csv").write_text(PODS)
    (tmp_path / "nodes.csv").write_text(NODES)
    f = tmp_path / f"{profile}.yaml"
    f.write_text(f"name: tiny-{profile}\nseed: 3\ncluster: {{system: dgx-a100, from_trace: true}}\n"
                 f"workload:\n  trace: {{format: openb, path: {tmp_path / 'pods.csv'}, "
                 "options: {node_list: nodes.csv}}\n"
                 f"scheduler: {{profile: {profile}}}\n"
                 f"experiment: {{demand: [0.5, 1.0, 1.2], seeds: 3{extra}}}\n")
    return f


def test_summary_has_a_curve_per_profile(tmp_path: Path) -> None:
    sc = load_scenario(_scenario(tmp_path, "fgd", ", compare: [bestfit, random-fit]"))
    result = simulate(sc)
    s = result.summary
    assert list(s["inflation"]) == ["fgd", "bestfit", "random-fit"]
    for curve in s["inflation"].values():
        assert curve["demand"] == [0.5, 1.0, 1.2] and curve["seeds"] == 3
        assert curve["capacity_gpus"] == 30.0
        alloc = curve["allocated_frac"]
        assert alloc == sorted(alloc) and 0 < alloc[-1] <= 1.0  # no departures
        idle, unalloc = curve["idle_gpus"], curve["unallocated_gpus"]
        # idle = capacity − placed; unallocated = arrived − placed (≥ idle past 100 %)
        assert unalloc[2] >= idle[2] - 1e-9
        assert idle[0] == pytest.approx(30.0 * (1 - alloc[0]), abs=0.01)  # rounded
    assert s["unallocated_gpus_at_full_demand"] == s["inflation"]["fgd"]["unallocated_gpus"][1]
    assert s["num_jobs"] == 0
    page = render_report(result)
    assert "fig-inflation-unallocated" in page and "fig-inflation-fragmented" in page


def test_a_seed_repeats(tmp_path: Path) -> None:
    one = simulate(load_scenario(_scenario(tmp_path, "bestfit"))).summary["inflation"]
    two = simulate(load_scenario(_scenario(tmp_path, "bestfit"))).summary["inflation"]
    assert one == two  # deterministic for a seed


def test_cpu_only_pods_take_host_resources(tmp_path: Path) -> None:
    """Big CPU-only pods on 32-CPU nodes strand GPUs: with them less GPU demand fits."""
    base = simulate(load_scenario(_scenario(tmp_path, "gpu-packing"))).summary
    f = _scenario(tmp_path, "gpu-packing", ", cpu_only_pods: true")
    with_cpu = simulate(load_scenario(f)).summary
    a = base["inflation"]["gpu-packing"]["allocated_frac"][-1]
    b = with_cpu["inflation"]["gpu-packing"]["allocated_frac"][-1]
    assert b <= a


def test_cli_prints_the_curves(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gputwin.cli.main import cli

    out = CliRunner().invoke(cli, ["simulate", str(_scenario(tmp_path, "fgd")), "--out",
                                   str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "packing experiment" in out.output and "fgd: 50%:" in out.output
