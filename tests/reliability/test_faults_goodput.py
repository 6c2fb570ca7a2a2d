"""Fault registry, analytic goodput and the Monte-Carlo optimum (reliability/)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from gputwin.errors import InputError, UnknownNameError
from gputwin.reliability import faults
from gputwin.reliability.goodput import (
    JobSpan,
    daly_interval_s,
    estimate_goodput,
    young_interval_s,
)
from gputwin.reliability.optimum import simulate_interval, simulated_optimum

LLAMA3 = JobSpan(num_gpus=16384, num_nodes=2048, num_leaves=64)
WINDOW_S = 54 * 86400.0


def _defaults(scale: float = 1.0) -> list[faults.FaultModel]:
    return [faults.build(n, rate_scale=scale) for n in faults.default_names()]


def test_every_catalog_row_cites_a_source() -> None:
    for name, row in faults.catalog().items():
        assert len(row.source) > 20, name


def test_registry_rejects_duplicates_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="already registered"):
        faults.register(faults.lookup("gpu"))
    with pytest.raises(UnknownNameError, match="gpu"):
        faults.lookup("gpux")


def test_args_are_typed_and_scenario_schema_is_derived() -> None:
    model = faults.build("network", {"rate_scale": 2, "repair": "2h"})
    assert model.repair_s == 7200.0
    assert model.rate_per_unit_hour == pytest.approx(2 * faults.catalog()["network"]
                                                     .rate_per_unit_hour)
    with pytest.raises(InputError, match="rate_scale"):
        faults.build("gpu", {"rate_scale": -1})
    schema = faults.args_schema()
    assert set(schema.model_fields) == set(faults.registered())
    with pytest.raises(ValidationError):
        schema.model_validate({"gpu": {"bogus": 1}})


def test_llama3_rates_reproduce_the_table() -> None:
    """Data consistency: per-unit rates × the run's unit-hours give Table 5's counts."""
    est = estimate_goodput(_defaults(), LLAMA3, duration_s=WINDOW_S, checkpoint_write_s=10.0,
                           restart_s=300.0)
    assert est.interruptions == pytest.approx(419, rel=0.005)
    assert est.interruptions_planned == pytest.approx(47, rel=0.005)
    assert est.by_cause["gpu"] == pytest.approx(196, rel=0.005)


@pytest.mark.parametrize(("gpus", "nodes"), [(1024, 128), (4096, 512), (16384, 2048)])
def test_interruptions_scale_with_the_parts_spanned(gpus: int, nodes: int) -> None:
    small = estimate_goodput(_defaults(), JobSpan(gpus, nodes), duration_s=86400.0,
                             checkpoint_write_s=10.0, restart_s=300.0)
    big = estimate_goodput(_defaults(), JobSpan(2 * gpus, 2 * nodes), duration_s=86400.0,
                           checkpoint_write_s=10.0, restart_s=300.0)
    assert big.interruptions == pytest.approx(2 * small.interruptions)
    assert big.ettr < small.ettr


def test_young_daly_and_ettr_properties() -> None:
    assert young_interval_s(10.0, 10000.0) == pytest.approx(math.sqrt(2e5))
    assert daly_interval_s(10.0, 10000.0) == pytest.approx(young_interval_s(10.0, 10000.0),
                                                           rel=0.05)
    assert daly_interval_s(500.0, 100.0) == 100.0
    kw = {"duration_s": WINDOW_S, "checkpoint_write_s": 10.0, "restart_s": 300.0}
    best = estimate_goodput(_defaults(), LLAMA3, **kw)
    for tau in (best.checkpoint_interval_s / 3, best.checkpoint_interval_s * 3):
        assert estimate_goodput(_defaults(), LLAMA3, checkpoint_interval_s=tau,
                                **kw).ettr < best.ettr
    assert estimate_goodput(_defaults(), LLAMA3, async_checkpoint=True, **kw).ettr > best.ettr
    none = estimate_goodput([], LLAMA3, **kw)
    assert none.interruptions == 0 and math.isinf(none.mtbf_s)
    assert none.ettr == pytest.approx(3600 / 3610)  # only the checkpoint writes cost


def test_more_checkpoints_trade_lost_work_for_overhead() -> None:
    rng = np.random.default_rng(1)
    often = simulate_interval(2e6, 200.0, 10.0, 11000.0, 500.0, rng, runs=3)
    rarely = simulate_interval(2e6, 2000.0, 10.0, 11000.0, 500.0, rng, runs=3)
    assert often.lost_work_s < rarely.lost_work_s
    assert often.checkpoint_s > rarely.checkpoint_s


def test_simulated_optimum_is_near_young_daly() -> None:
    delta, mtbf = 10.0, 11000.0
    best, outcomes = simulated_optimum(3e6, delta, mtbf, 500.0, np.random.default_rng(7),
                                       runs=4)
    young = young_interval_s(delta, mtbf)
    assert 0.5 * young <= best <= 2.0 * young
    assert len(outcomes) == 11


def test_same_seed_same_simulation() -> None:
    a = simulate_interval(1e6, 400.0, 10.0, 9000.0, 300.0, np.random.default_rng(3))
    b = simulate_interval(1e6, 400.0, 10.0, 9000.0, 300.0, np.random.default_rng(3))
    assert a == b
