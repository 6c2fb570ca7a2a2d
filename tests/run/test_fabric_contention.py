"""Fabric contention: jobs crossing the same leaf uplinks share them (run/fabric.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import make_placement
from gputwin.run.fabric import FabricContention, step_speed
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fabric-contention.yaml"


class _Speeds:
    def __init__(self) -> None:
        self.set: dict[str, float] = {}

    def set_speed(self, job_id: str, throughput_frac: float, power_frac: float,
                  source: str = "scheduler") -> None:
        assert source == "fabric" and power_frac == 1.0
        self.set[job_id] = throughput_frac


def _layout() -> ClusterLayout:
    return ClusterLayout(num_nodes=16, gpus_per_node=8, nodes_per_leaf=8)


def test_step_speed_shortens_only_the_exposed_part_and_stretches_all_of_it() -> None:
    assert step_speed(0.4, 0.1, 1.0) == pytest.approx(1.0)
    assert step_speed(0.4, 0.1, 4.0) == pytest.approx(1 / 0.9)  # capped by the exposed 0.1
    assert step_speed(0.4, 0.3, 2.0) == pytest.approx(1 / 0.8)  # 0.4 -> 0.2 of a step
    assert step_speed(0.4, 0.1, 0.5) == pytest.approx(1 / 1.4)  # 0.4 -> 0.8


def test_jobs_sharing_leaves_take_shares_of_the_uplinks() -> None:
    run = _Speeds()
    fab = FabricContention(run, _layout(), oversubscription=4.0)
    a = make_placement(_layout(), {0: 8, 1: 8, 8: 8, 9: 8})  # 2 nodes under each leaf
    b = make_placement(_layout(), {2: 8, 3: 8, 10: 8, 11: 8})
    fab.started("a", a, duty=0.5, exposed=0.5, now_s=0.0)
    # alone: 8 nodes / 2 sending -> 4x the model's price, capped by the oversubscription
    assert run.set["a"] == pytest.approx(step_speed(0.5, 0.5, 4.0))
    fab.started("b", b, duty=0.5, exposed=0.5, now_s=10.0)
    shared = step_speed(0.5, 0.5, 8 / (2 + 2 * 0.5))
    assert run.set["a"] == pytest.approx(shared) and run.set["b"] == pytest.approx(shared)
    fab.ended("b", now_s=20.0)
    assert run.set["a"] == pytest.approx(step_speed(0.5, 0.5, 4.0))
    rep = fab.report(30.0)
    assert rep["jobs_crossing_leaves"] == 2
    assert rep["contention_lost_gpu_hours"] > 0
    assert rep["speed_vs_alone_mean"] < 1.0


def test_one_leaf_and_non_blocking_fabrics_are_left_alone() -> None:
    run = _Speeds()
    fab = FabricContention(run, _layout(), oversubscription=1.0)
    fab.started("a", make_placement(_layout(), {0: 8, 8: 8}), 0.5, 0.2, 0.0)
    fab.started("b", make_placement(_layout(), {1: 8, 9: 8}), 0.5, 0.2, 0.0)
    fab.started("c", make_placement(_layout(), {2: 8, 3: 8}), 0.5, 0.2, 0.0)  # one leaf
    assert run.set == {}
    assert fab.report(1.0)["jobs_crossing_leaves"] == 2


def test_topology_aware_placement_loses_less_to_contention() -> None:
    def run(placement: str) -> dict:
        sc = load_scenario(EXAMPLE, [f"scheduler.placement={placement}",
                                     "workload.synthetic.num_jobs=60"])
        return simulate(sc).summary

    scattered, packed = run("first_fit"), run("leaf_pack")
    fs, fp = scattered["fabric"], packed["fabric"]
    assert fs["jobs_crossing_leaves"] > fp["jobs_crossing_leaves"]
    assert fs["contention_lost_gpu_hours"] > fp["contention_lost_gpu_hours"] > 0
    assert scattered["jobs_by_status"]["completed"] == 60


def test_contention_off_has_no_fabric_section() -> None:
    s = simulate(load_scenario(EXAMPLE, ["cluster.network.contention=false",
                                         "workload.synthetic.num_jobs=10"])).summary
    assert "fabric" not in s
