"""Torus slices of a TPU-style cluster with optics (scheduling.placement.torus_slice_place,
cluster.optics in runs): OCS takes any free blocks, static wiring fixed aligned runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.errors import InputError
from gputwin.report.cluster_extras import extras_html, optics_line
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario
from gputwin.scheduling.placement import torus_slice_place
from gputwin.topology.optical import hosts_per_block, torus_optics

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tpu-ocs.yaml"
HOSTS = 16  # 4x4x4 chips on 4-chip hosts
GPN = 4


def _free(busy_blocks: dict[int, int], blocks: int = 8) -> tuple[ClusterLayout, np.ndarray]:
    """Free chips per host; ``busy_blocks``: block -> chips taken from its first host."""
    layout = ClusterLayout(num_nodes=blocks * HOSTS, gpus_per_node=GPN, nodes_per_leaf=HOSTS)
    free = np.full(layout.num_nodes, GPN, dtype=np.int64)
    for block, chips in busy_blocks.items():
        free[block * HOSTS] -= chips
    return layout, free


def _blocks(placement: Placement) -> set[int]:
    return {n // HOSTS for n in placement.nodes}


def test_ocs_wires_any_free_blocks_and_static_only_aligned_runs() -> None:
    layout, free = _free({1: 1})  # one chip busy in block 1
    ocs = torus_slice_place(layout, free, 3 * 64, HOSTS, static=False)
    static = torus_slice_place(layout, free, 3 * 64, HOSTS, static=True)
    assert ocs is not None and _blocks(ocs) == {0, 2, 3}
    assert static is not None and _blocks(static) == {3, 4, 5}  # runs start at 0, 3
    assert ocs.num_gpus == 192


def test_a_failed_host_in_every_aligned_run_blocks_static_but_not_ocs() -> None:
    layout, free = _free({1: 4, 5: 4})  # 6 whole blocks left, none of runs 0-3 / 4-7 whole
    assert torus_slice_place(layout, free, 4 * 64, HOSTS, static=True) is None
    ocs = torus_slice_place(layout, free, 4 * 64, HOSTS, static=False)
    assert ocs is not None and _blocks(ocs) == {0, 2, 3, 4}
    assert torus_slice_place(layout, free, 7 * 64, HOSTS, static=False) is None


def test_sub_block_slices_take_the_fullest_block_that_holds_them() -> None:
    layout, free = _free({2: 4, 5: 2})  # block 2: 60 chips free, block 5: 62
    small = torus_slice_place(layout, free, 8, HOSTS, static=True)
    assert small is not None and _blocks(small) == {2}
    assert small.num_gpus == 8
    big = torus_slice_place(layout, free, 64, HOSTS, static=False)  # one whole block
    assert big is not None and _blocks(big) == {0}


def test_block_geometry_and_optics_power() -> None:
    assert hosts_per_block("torus3d", 4) == 16
    with pytest.raises(InputError, match="3D-torus"):
        hosts_per_block("switched", 8)
    ocs = torus_optics(64, 800.0, ocs=True)
    static = torus_optics(64, 800.0, ocs=False)
    assert ocs.num_ocs == 48 and static.num_ocs == 0  # TPU v4: 64 blocks, 48 OCSes
    assert ocs.transceivers == static.transceivers == 64 * 96
    assert ocs.switch_power_w == pytest.approx(48 * 108.0)
    assert ocs.optics_power_w == pytest.approx(64 * 96 * 16.0)


def _run(*overrides: str) -> dict:
    return simulate(load_scenario(EXAMPLE, list(overrides))).summary


def test_static_wiring_waits_longer_than_ocs_on_the_same_jobs() -> None:
    ocs = _run("cluster.optics.switching=ocs")
    static = _run("cluster.optics.switching=static")
    assert ocs["jobs_by_status"]["completed"] == static["jobs_by_status"]["completed"] == 60
    assert static["wait_s"]["mean"] > ocs["wait_s"]["mean"]
    assert ocs["optics"]["num_ocs"] == 48 and static["optics"]["num_ocs"] == 0


def test_the_optics_draw_is_in_the_sites_energy() -> None:
    """Same placements (same switching), only the modules differ: the IT energy differs
    by exactly the modules' power difference over the run."""
    a = _run("cluster.optics.transceiver=pluggable-800g")
    b = _run("cluster.optics.transceiver=pluggable-400g")
    assert a["end_time_s"] == b["end_time_s"]
    d_w = b["optics"]["optics_power_w"] - a["optics"]["optics_power_w"]
    assert d_w != 0
    assert b["energy_it_j"] - a["energy_it_j"] == pytest.approx(d_w * a["end_time_s"], rel=1e-6)


@pytest.mark.parametrize(("override", "field", "message"), [
    ("cluster.system=dgx-h100", "cluster.optics", "3D-torus"),
    ("cluster.num_nodes=1000", "cluster.num_nodes", "whole blocks of 16"),
    ("cluster.optics.transceiver=pluggable-1600g", "cluster.optics", "transceiver"),
    ("scheduler.plugins={placement: topology}", "scheduler.plugins.placement",
     "torus slices"),
])
def test_bad_optics_settings_name_the_field(override: str, field: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        load_scenario(EXAMPLE, [override])
    assert field in str(info.value)


def test_cli_and_report_say_what_the_optics_are() -> None:
    s = _run("cluster.optics.switching=static")
    line = optics_line(s)
    assert line is not None and line.startswith("statically wired torus slices; 6,144")
    assert "98.3 kW" in line and "OCS" not in line
    sections = {sid: body for _, body, sid in extras_html(s)}
    assert line in sections["optics"]
    assert optics_line({"optics": None}) is None


@pytest.mark.parametrize(("switching", "nodes", "extra_s"), [
    ("ocs", 2 * HOSTS, 10.0),  # two blocks: circuits re-pointed (optical.yaml, Gemini ~10 s)
    ("ocs", HOSTS, 0.0),  # one block: copper inside, no circuit to move
    ("static", 4 * HOSTS, 0.0),  # fixed fibre: the slice resumes on the same run
])
def test_a_resumed_multi_block_ocs_slice_pays_the_rewiring(switching: str, nodes: int,
                                                            extra_s: float) -> None:
    from gputwin.catalog.loader import default_catalog
    from gputwin.run.world import build_world
    from gputwin.sim import RandomStreams

    scenario = load_scenario(EXAMPLE, [f"cluster.optics.switching={switching}",
                                       "scheduler.restart_overhead=60"])
    world = build_world(scenario, default_catalog(), RandomStreams(scenario.seed))
    base = world.restart_overhead_s
    assert base >= 60.0
    assert world.restart_overhead_for(nodes) == pytest.approx(base + extra_s)
