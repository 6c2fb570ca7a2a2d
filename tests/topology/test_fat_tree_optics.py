"""GPU fat-tree optics: switch counts, modules per port, co-packaged switch ports."""

from __future__ import annotations

import json

import pytest

from gputwin.errors import InputError, UnknownNameError
from gputwin.topology.fat_tree_optics import fat_tree_optics
from gputwin.topology.optical import optical_table


@pytest.mark.parametrize("gpus, tiers", [(100, 1), (144, 1), (145, 2), (10368, 2), (10369, 3)])
def test_tiers_follow_the_radix(gpus: int, tiers: int) -> None:
    """144-port switches: one tier up to k, two up to k^2/2, three up to k^3/4."""
    assert fat_tree_optics(gpus).tiers == tiers


def test_every_link_has_a_module_at_each_end() -> None:
    """t tiers -> 2t - 1 switch-side modules per NIC port plus the NIC's own."""
    for gpus, tiers in [(144, 1), (10368, 2), (41472, 3)]:
        ft = fat_tree_optics(gpus)
        assert ft.tiers == tiers
        assert ft.nic_modules == gpus
        assert ft.switch_side_ports == (2 * tiers - 1) * gpus
        assert ft.modules_per_gpu == pytest.approx(2 * tiers)


def test_cpo_switches_keep_the_nic_module_and_draw_less() -> None:
    tab = optical_table().transceivers
    plug = fat_tree_optics(41472)
    cpo = fat_tree_optics(41472, cpo_switches=True)
    assert cpo.num_switches == plug.num_switches and cpo.switch_side_ports == plug.switch_side_ports
    assert cpo.switch_side_pluggables == 0 and cpo.modules_per_gpu == pytest.approx(1.0)
    assert cpo.optics_power_w == pytest.approx(
        41472 * tab["pluggable-800g"].power_w + plug.switch_side_ports * tab["cpo-800g"].power_w)
    assert cpo.optics_power_w < plug.optics_power_w


def test_more_ports_per_gpu_scale_the_fabric() -> None:
    one = fat_tree_optics(1024)
    two = fat_tree_optics(1024, ports_per_gpu=2)
    assert two.endpoint_ports == 2048 and two.nic_modules == 2048
    assert two.optics_power_w > one.optics_power_w


def test_bad_inputs_name_their_flag() -> None:
    with pytest.raises(UnknownNameError):
        fat_tree_optics(64, transceiver="nope")
    for kwargs, flag in [({"radix": 3}, "--radix"), ({"ports_per_gpu": 0}, "--num-gpus")]:
        with pytest.raises(InputError) as info:
            fat_tree_optics(64, **kwargs)
        assert info.value.where == flag
    with pytest.raises(InputError) as info:
        fat_tree_optics(10_000_000)
    assert info.value.where == "--num-gpus"


def test_fat_tree_optics_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli_run import run_cli

    code, out, err = run_cli(["estimate", "fat-tree-optics", "--num-gpus", "576", "--json"],
                             capsys)
    assert code == 0, err
    rows = json.loads(out)["fabrics"]
    assert [r["switch_optics"] for r in rows] == ["pluggable", "co-packaged"]
    assert rows[0]["num_switches"] == 12
    code, out, err = run_cli(["estimate", "fat-tree-optics", "--num-gpus", "576"], capsys)
    assert code == 0 and "co-packaged switches" in out and "W per GPU" in out
    code, out, err = run_cli(["estimate", "fat-tree-optics", "--radix", "3"], capsys)
    assert code == 2 and "--radix" in err


def test_a_twin_port_module_serves_two_switch_ports() -> None:
    """A 1.6T twin-port module carries two 800G switch ports: half the modules, half its
    power per port; the NIC keeps its own 800G module."""
    tab = optical_table().transceivers
    base = fat_tree_optics(10368)
    twin = fat_tree_optics(10368, transceiver="pluggable-1.6t")
    assert twin.switch_side_ports == base.switch_side_ports
    assert twin.switch_side_pluggables == base.switch_side_ports // 2
    assert twin.switch_port_w == pytest.approx(tab["pluggable-1.6t"].power_w / 2)
    assert twin.nic_module_w == pytest.approx(tab["pluggable-800g"].power_w)
    slow = fat_tree_optics(10368, nic_transceiver="pluggable-400g")
    assert slow.nic_modules == 2 * 10368  # an 800G NIC port needs two 400G modules


def test_faster_ports_take_a_module_each() -> None:
    """1.6T ports: a 1.6T module per port end, CPO ports at twice the 800G port's power."""
    tab = optical_table().transceivers
    ft = fat_tree_optics(1000, port_gbps=1600, transceiver="pluggable-1.6t",
                         nic_transceiver="pluggable-1.6t")
    assert ft.port_gbps == 1600 and ft.switch_side_pluggables == ft.switch_side_ports
    assert ft.switch_port_w == pytest.approx(tab["pluggable-1.6t"].power_w)
    cpo = fat_tree_optics(1000, port_gbps=1600, cpo_switches=True)
    assert cpo.switch_port_w == pytest.approx(2 * tab["cpo-800g"].power_w)
    with pytest.raises(InputError) as info:
        fat_tree_optics(1000, port_gbps=0)
    assert info.value.where == "--port-gbps"
