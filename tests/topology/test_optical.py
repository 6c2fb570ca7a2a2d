"""Optical circuit switching: TPU-style torus slices, blast radius, optics power."""

from __future__ import annotations

import pytest

from gputwin.errors import InputError, UnknownNameError
from gputwin.topology.optical import blast_radius, ocs_slice, optics_power_w


def test_tpu_v4_pod_needs_48_ocs() -> None:
    """Jouppi et al., ISCA 2023: 4,096 TPU v4 chips = 64 blocks of 4x4x4 wired through 48
    OCSes; the full pod is a 16x16x16 torus."""
    s = ocs_slice(4096)
    assert s.blocks == 64 and s.chip_torus == (16, 16, 16)
    assert s.num_ocs == 48


@pytest.mark.parametrize("chips", [64, 128, 256, 512, 1024, 2048])
def test_slices_are_whole_blocks_with_all_chips(chips: int) -> None:
    s = ocs_slice(chips)
    x, y, z = s.chip_torus
    assert x * y * z == chips
    assert s.ocs_ports == s.blocks * 96


def test_partial_blocks_are_refused() -> None:
    with pytest.raises(InputError, match="whole"):
        ocs_slice(100)


def test_ocs_bounds_a_failure_static_wiring_does_not() -> None:
    with_ocs = blast_radius(512, ocs=True)
    static = blast_radius(512, ocs=False)
    assert with_ocs.outage_s is not None and with_ocs.outage_s < 60
    assert static.outage_s is None
    assert blast_radius(512, ocs=True, spare_blocks=0).outage_s is None


def test_cpo_draws_less_than_pluggable_optics() -> None:
    assert optics_power_w(1000, "cpo-800g") < optics_power_w(1000, "pluggable-800g") / 3
    assert optics_power_w(0) == 0.0
    with pytest.raises(UnknownNameError):
        optics_power_w(1, "smoke-signals")
