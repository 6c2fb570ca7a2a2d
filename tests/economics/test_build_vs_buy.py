"""Build vs buy: fleet sizing, per-million-token cost and break-even volumes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gputwin.economics.build_vs_buy import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    ReplicaCapacity,
    Traffic,
    api_option,
    break_even_tokens_per_day,
    fleet_option,
    num_replicas,
)
from gputwin.economics.tables import ApiPrice
from gputwin.errors import InputError

API = ApiPrice(name="x/y", provider="X", kind="open-model host", models=["m"],
               usd_per_million_input=0.5, usd_per_million_output=1.5, as_of="2024-10",
               source="test price list")
CAP = ReplicaCapacity("h100-sxm-80gb", gpus=4, output_tokens_per_s=2000.0)


def test_api_cost_is_linear_in_volume() -> None:
    t = Traffic(8e8, 2e8)
    opt = api_option(API, t)
    assert opt.monthly_usd == pytest.approx((800 * 0.5 + 200 * 1.5) * DAYS_PER_MONTH)
    assert opt.usd_per_million_tokens == pytest.approx(0.7)
    double = api_option(API, Traffic(1.6e9, 4e8))
    assert double.monthly_usd == pytest.approx(2 * opt.monthly_usd)


def test_fleet_is_sized_for_the_peak() -> None:
    t = Traffic(8e8, 2e8, peak_to_mean=3.0)
    peak = 2e8 / 86400 * 3
    assert num_replicas(t, CAP) == -(-peak // 2000)
    opt = fleet_option("rent", "r", 2.0, t, CAP, "b")
    assert opt.gpus == num_replicas(t, CAP) * 4
    assert opt.monthly_usd == pytest.approx(opt.gpus * 2.0 * HOURS_PER_MONTH)
    assert 0 < opt.extra["mean_utilisation_frac"] <= 1 / 3 + 1e-9


def test_break_even_is_where_one_replica_costs_what_the_api_does() -> None:
    t = Traffic(8e8, 2e8)
    volume = break_even_tokens_per_day(2.0, CAP, API, t)
    assert volume is not None
    at = Traffic(volume * 0.8, volume * 0.2)
    assert api_option(API, at).monthly_usd == pytest.approx(
        fleet_option("own", "o", 2.0, at, CAP, "").monthly_usd, rel=1e-6)
    # a GPU hour so dear that a full replica costs more than the API: never
    assert break_even_tokens_per_day(500.0, CAP, API, t) is None


def test_bad_traffic_raises() -> None:
    with pytest.raises(InputError):
        Traffic(1e9, 0)
    with pytest.raises(InputError, match="peak-to-mean"):
        Traffic(1e9, 1e8, peak_to_mean=0.5)


def test_distillation_payback() -> None:
    from gputwin.economics.distill import DistillInputs, distill_economics

    x = DistillInputs(teacher_usd_per_million=0.5, student_usd_per_million=0.1,
                      distill_tokens=1e10, student_params=8e9, train_tokens=1e10,
                      train_peak_flop_per_s=1e15, train_usd_per_gpu_hour=2.0,
                      tokens_per_day=1e9, horizon_days=365, mfu=0.5)
    r = distill_economics(x)
    assert r["generation_usd"] == pytest.approx(5000.0)
    assert r["training_gpu_hours"] == pytest.approx(6 * 8e9 * 1e10 / 5e14 / 3600)
    assert r["savings_usd_per_day"] == pytest.approx(400.0)
    assert r["payback_days"] == pytest.approx(r["upfront_usd"] / 400.0)
    worse = distill_economics(DistillInputs(0.1, 0.2, 1e9, 8e9, 1e9, 1e15, 2.0, 1e9))
    assert worse["payback_days"] is None
    with pytest.raises(InputError):
        DistillInputs(0.5, 0.1, 0, 8e9, 1e9, 1e15, 2.0, 1e9)
    assert "generation_kwh" not in r  # no energy inputs, no energy figures


def test_distillation_energy_payback() -> None:
    from dataclasses import replace

    from gputwin.economics.distill import DistillInputs, distill_economics

    x = DistillInputs(0.5, 0.1, distill_tokens=1e10, student_params=8e9, train_tokens=1e10,
                      train_peak_flop_per_s=1e15, train_usd_per_gpu_hour=2.0,
                      tokens_per_day=1e9, mfu=0.5, teacher_kwh_per_million=0.08,
                      student_kwh_per_million=0.02, train_facility_w_per_gpu=1200.0)
    r = distill_economics(x)
    assert r["generation_kwh"] == pytest.approx(1e4 * 0.08)
    assert r["training_kwh"] == pytest.approx(r["training_gpu_hours"] * 1.2)
    assert r["energy_saved_kwh_per_day"] == pytest.approx(60.0)
    assert r["energy_payback_days"] == pytest.approx(r["upfront_kwh"] / 60.0)
    assert r["net_energy_saved_kwh_over_horizon"] == pytest.approx(60.0 * 365 - r["upfront_kwh"])
    same = distill_economics(replace(x, student_kwh_per_million=0.08))
    assert same["energy_payback_days"] is None


def test_generated_tokens_carry_their_prompts() -> None:
    """Serving costs are per token served (prompt + output); a generated token of the
    teacher pays for its prompt too: at 1 output token in 5 it costs 5 served tokens."""
    from dataclasses import replace

    from gputwin.economics.distill import DistillInputs, distill_economics

    x = DistillInputs(0.5, 0.1, distill_tokens=1e10, student_params=8e9, train_tokens=1e10,
                      train_peak_flop_per_s=1e15, train_usd_per_gpu_hour=2.0,
                      tokens_per_day=1e9, mfu=0.5, teacher_kwh_per_million=0.08,
                      student_kwh_per_million=0.02, train_facility_w_per_gpu=1200.0)
    shaped = distill_economics(replace(x, teacher_output_frac=0.2))
    assert shaped["generation_usd"] == pytest.approx(1e4 * 0.5 * 5)
    assert shaped["generation_kwh"] == pytest.approx(1e4 * 0.08 * 5)
    plain = distill_economics(x)  # savings are per served token: unchanged by the shape
    assert shaped["savings_usd_per_day"] == plain["savings_usd_per_day"]
    with pytest.raises(InputError, match="teacher_output_frac"):
        replace(x, teacher_output_frac=0.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize(("build", "where"), [
    (lambda x: Traffic(x, 1e8), "input_tokens_per_day"),
    (lambda x: Traffic(1e9, x), "output_tokens_per_day"),
    (lambda x: Traffic(1e9, 1e8, peak_to_mean=x), "--peak-to-mean"),
    (lambda x: ReplicaCapacity("h100-sxm-80gb", gpus=4, output_tokens_per_s=x),
     "output_tokens_per_s"),
])
def test_non_finite_traffic_and_capacity_are_refused(build: Any, where: str, bad: float
                                                     ) -> None:
    """``x < 0`` lets NaN through (and infinity passes ``x > 0``); the Python API refuses
    both, naming the field."""
    with pytest.raises(InputError, match=f"^{where}: expected a finite number"):
        build(bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
@pytest.mark.parametrize("field", ["distill_tokens", "tokens_per_day", "horizon_days", "mfu"])
def test_distill_inputs_refuse_non_finite_values(field: str, bad: float) -> None:
    from gputwin.economics.distill import DistillInputs

    good: dict[str, float] = dict(
        teacher_usd_per_million=0.5, student_usd_per_million=0.1, distill_tokens=1e10,
        student_params=8e9, train_tokens=1e10, train_peak_flop_per_s=1e15,
        train_usd_per_gpu_hour=2.0, tokens_per_day=1e9, horizon_days=365, mfu=0.5)
    flag = "--" + field.replace("_", "-")
    with pytest.raises(InputError, match=f"^{flag}: expected a finite number"):
        DistillInputs(**{**good, field: bad})


@pytest.mark.parametrize("usd_per_gpu_hour", [0.5, 2.0, 3.0, 3.1])
def test_above_the_break_even_the_fleet_is_always_cheaper(usd_per_gpu_hour: float) -> None:
    """With whole replicas the fleet's cost is a staircase: above the break-even every
    volume costs less on the fleet; a little below it, some volume costs more (a replica
    just added and barely used), so no lower figure would hold."""
    t = Traffic(8e8, 2e8)
    volume = break_even_tokens_per_day(usd_per_gpu_hour, CAP, API, t)
    assert volume is not None

    def fleet_minus_api(v: float) -> float:
        at = Traffic(v * 0.8, v * 0.2)
        return (fleet_option("own", "o", usd_per_gpu_hour, at, CAP, "").monthly_usd
                - api_option(API, at).monthly_usd)

    grid = [volume * (1 + i / 400) for i in range(1, 4000)]
    assert all(fleet_minus_api(v) <= 1e-6 for v in grid)
    below = [volume * (1 - i / 1000) for i in range(1, 200)]
    assert any(fleet_minus_api(v) > 0 for v in below)
