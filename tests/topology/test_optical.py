"""Optical circuit switching: TPU-style torus slices, blast radius, optics power."""

from __future__ import annotations

import math

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


# -- gputwin estimate optics: OCS torus vs static torus vs packet-switched Clos -------------

def test_tpu_v4_pod_optics_counts_match_the_paper() -> None:
    """Jouppi et al. (ISCA 2023): a 4,096-chip pod of 64 blocks uses 48 OCSes and 1.5
    optical transceivers per chip (6,144: each block's 96 face links)."""
    from gputwin.run.estimate_optics import estimate_optics

    out = estimate_optics(num_chips=4096)
    ocs = out["fabrics"][0]
    assert ocs["fabric"] == "ocs-torus" and ocs["num_switches"] == 48
    assert ocs["transceivers"] / 4096 == 1.5


def test_ocs_power_share_is_a_few_percent() -> None:
    """Published: OCS and optics are < 3 % of TPU v4 system power. Ours (v5p chip power
    and generic 800G pluggables, both estimates): 4.0 %; with co-packaged optics 1.3 %.
    The known gap is Google's custom low-power optics, which we do not model."""
    from gputwin.run.estimate_optics import estimate_optics

    plug = estimate_optics(num_chips=4096)["fabrics"][0]["fabric_power_frac"]
    cpo = estimate_optics(num_chips=4096, transceiver="cpo-800g")["fabrics"][0]
    assert 0.02 < plug < 0.05
    assert cpo["fabric_power_frac"] < 0.03
    # a co-packaged 800G port below the ~6 W (7.5 pJ/bit) vendors quote
    from gputwin.topology.optical import optical_table

    t = optical_table().transceivers["cpo-800g"]
    assert t.power_w / (t.gbps * 1e9) * 1e12 < 7.5


def test_fabrics_trade_collectives_power_and_failures() -> None:
    from gputwin.run.estimate_optics import estimate_optics

    ar = {f["fabric"]: f for f in estimate_optics(num_chips=1024)["fabrics"]}
    a2a = {f["fabric"]: f for f in estimate_optics(num_chips=1024, op="all_to_all")["fabrics"]}
    # an OCS is passive: the torus' collectives are the same wired statically or optically
    assert ar["ocs-torus"]["collective_time_s"] == ar["static-torus"]["collective_time_s"]
    # all-reduce uses every link either way; all-to-all is bisection-bound on a torus
    assert ar["eps-clos"]["collective_time_s"] == pytest.approx(
        ar["ocs-torus"]["collective_time_s"], rel=0.3)
    assert a2a["ocs-torus"]["collective_time_s"] > 3 * a2a["eps-clos"]["collective_time_s"]
    # a non-blocking packet fabric at ICI bandwidth costs an order of magnitude more power
    assert ar["eps-clos"]["fabric_power_w"] > 10 * ar["ocs-torus"]["fabric_power_w"]
    # failures: the OCS swaps in a spare block in seconds; static waits for repair
    from gputwin.topology.optical import optical_table

    assert ar["ocs-torus"]["chip_failure_recovery_s"] == pytest.approx(
        optical_table().ocs.job_reconfiguration_s)
    assert ar["ocs-torus"]["chip_failure_recovery_s"] < 60
    assert ar["static-torus"]["chip_failure_recovery_s"] is None
    assert (ar["eps-clos"]["slice_availability_frac"] > ar["ocs-torus"]["slice_availability_frac"]
            > ar["static-torus"]["slice_availability_frac"])


def test_slice_availability_and_clos_sizes() -> None:
    from gputwin.topology.optical import clos_fabric, slice_availability

    assert slice_availability(4, 4, ocs=False, host_availability_frac=1.0) == 1.0
    a = 0.99 ** 16
    assert slice_availability(2, 3, ocs=False, host_availability_frac=0.99) == \
        pytest.approx(a ** 2)
    assert slice_availability(2, 3, ocs=True, host_availability_frac=0.99) == \
        pytest.approx(a ** 3 + 3 * a ** 2 * (1 - a))
    assert clos_fabric(64).tiers == 1
    two = clos_fabric(2048)  # 64 leaves of 32 down-ports, 32 spines
    assert (two.tiers, two.num_switches) == (2, 96)
    three = clos_fabric(64 ** 3 // 4)  # the classic k-ary fat tree: 5k²/4 switches
    assert (three.tiers, three.num_switches) == (3, 5 * 64 ** 2 // 4)
    with pytest.raises(InputError):
        clos_fabric(64 ** 3)


@pytest.mark.parametrize("args, where", [
    (["--num-chips", "100"], "--num-chips"), (["--system", "dgx-h100"], "--system"),
    (["--transceiver", "x"], "--transceiver"), (["--op", "allreduce"], "--op"),
    (["--size", "0"], "--size: expected a finite number > 0"),  # as estimate collective
    # these three named no flag
    (["--host-availability", "1.5"], "--host-availability: expected a share of time"),
    (["--num-chips", "1000000"], "--num-chips: 1,000,000 chips are too many"),
    (["--system", "nope"], "--system: unknown system 'nope'"),
])
def test_optics_cli_bad_input_exits_2(args: list[str], where: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from gputwin.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["estimate", "optics", *args])
    assert info.value.code == 2 and where in capsys.readouterr().err


def test_optics_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from gputwin.cli.main import main

    main(["estimate", "optics", "--num-chips", "256", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [f["fabric"] for f in out["fabrics"]] == ["ocs-torus", "ocs-twisted", "static-torus",
                                                     "eps-clos"]
    assert all(f["fabric_power_w"] >= 0 for f in out["fabrics"])


def test_slice_availability_of_a_large_pod_is_finite() -> None:
    """A pod of 100,064 blocks: math.comb(n, k) no longer fits a float; the tail must."""
    from gputwin.topology.optical import binomial_upper_tail, slice_availability

    value = slice_availability(64, 100_064, ocs=True, host_availability_frac=0.995)
    assert value == pytest.approx(1.0)
    # small cases against the closed form
    assert binomial_upper_tail(3, 0.5, 2) == pytest.approx(0.5)
    assert binomial_upper_tail(10, 0.3, 0) == 1.0
    assert binomial_upper_tail(10, 0.0, 1) == 0.0
    assert binomial_upper_tail(10, 0.3, 11) == 0.0


def test_binomial_tail_work_does_not_grow_with_the_pod() -> None:
    """Spare blocks only add terms the tail need not sum: 10^20 spares answered at once
    (was: a loop over every one of them, so ``--spare-blocks 99999999999999999999``
    never returned)."""
    from gputwin.topology.optical import binomial_upper_tail

    assert binomial_upper_tail(10**20 + 64, 0.92, 64) == 1.0
    assert binomial_upper_tail(10**20, 1e-19, 64) == pytest.approx(
        1.0 - sum(math.exp(-10.0) * 10.0**k / math.factorial(k) for k in range(64)))
    # both sides of the mean against the closed form
    for n, p, k in [(40, 0.3, 5), (40, 0.3, 20), (40, 0.9, 39), (7, 0.5, 7)]:
        exact = sum(math.comb(n, j) * p**j * (1 - p)**(n - j) for j in range(k, n + 1))
        assert binomial_upper_tail(n, p, k) == pytest.approx(exact, rel=1e-12, abs=1e-15)


def test_optics_cli_many_spare_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli_run import run_cli

    code, out, err = run_cli(["estimate", "optics", "--spare-blocks", "100000", "--json"], capsys)
    assert code == 0, err
    assert "slice_availability_frac" in out


def test_optics_cli_text_states_its_assumptions(capsys: pytest.CaptureFixture[str]) -> None:
    """A newcomer sees the module power, chip power, availability and spares assumed."""
    from tests.cli_run import run_cli

    code, out, err = run_cli(["estimate", "optics", "--num-chips", "128", "--transceiver",
                              "cpo-800g", "--spare-blocks", "2"], capsys)
    assert code == 0, err
    assumed = next(line for line in out.splitlines() if line.startswith("assumed:"))
    assert "cpo-800g modules at 4.6 W" in assumed and "2 spare block(s)" in assumed
    assert "99.5%" in assumed and "W per chip" in assumed
    rows = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert rows[:5] == ["fabric", "ocs-torus", "ocs-twisted", "static-torus", "eps-clos"]
