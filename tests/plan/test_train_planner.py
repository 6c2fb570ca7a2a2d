"""The layout planner: exact against full enumeration, refusals explained, CLI and users."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner

from gputwin.catalog.loader import default_catalog
from gputwin.cli.main import cli, main
from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf.training import ParallelConfig, TrainingConfig, estimate_training
from gputwin.plan.train import (
    INTERLEAVES,
    MICRO_BATCHES,
    TrainSearch,
    num_gpus_choices,
    search_dtypes,
    search_layouts,
)
from gputwin.requests import EnergyRequest
from gputwin.run.estimate_energy import EnergyEstimate, estimate_energy
from gputwin.topology.hardware import resolve_hardware


def energy_of(**fields: object) -> EnergyEstimate:
    """``estimate_energy`` from flat keywords (as the CLI and validation cases give them)."""
    return estimate_energy(EnergyRequest.from_flat(fields))

CAT = default_catalog()
H100 = resolve_hardware(CAT, gpu="h100-sxm-80gb")


def _brute_force_best(search: TrainSearch) -> float:
    """Best tokens/s over the whole space, every knob tried, no pruning."""
    model, n = search.model, search.num_gpus[0]
    best = 0.0
    space = itertools.product((1, 2, 4, 8), (1, 2, 4), (1, 2, 4, 8, 16), INTERLEAVES,
                              MICRO_BATCHES, ("none", "selective", "full"), (1, 2, 3))
    for tp, cp, pp, v, mbs, rc, zero in space:
        if n % (tp * cp * pp) or (v > 1 and pp == 1):
            continue
        dp = n // (tp * cp * pp)
        assert search.global_batch_size is not None
        if search.global_batch_size % (dp * mbs):
            continue
        p = ParallelConfig(tp, pp, cp, 1, v, sequence_parallel=tp > 1, zero_stage=zero)
        cfg = TrainingConfig(search.global_batch_size, mbs, search.seq_len,
                             recompute=rc)  # type: ignore[arg-type]
        try:
            est = estimate_training(model, search.hw, n, p, cfg)
        except (InputError, DoesNotFitError):
            continue
        best = max(best, est.tokens_per_s)
    return best


@pytest.mark.parametrize(("model", "num_gpus", "gbs", "seq"), [
    ("llama3-70b", 32, 64, 8192),   # memory-bound: the pruning matters
    ("llama3-8b", 16, 64, 8192),
])
def test_pruned_search_finds_the_brute_force_best(model: str, num_gpus: int, gbs: int,
                                                  seq: int) -> None:
    search = TrainSearch(CAT.model(model), H100, (num_gpus,), seq, global_batch_size=gbs)
    result = search_layouts(search)
    assert result.best.estimate.tokens_per_s == pytest.approx(_brute_force_best(search))
    assert result.rejected["dominated"] > 0 and result.rejected["memory"] > 0
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores)


def test_every_candidate_fits_and_matches_a_plain_estimate() -> None:
    search = TrainSearch(CAT.model("llama3-70b"), H100, (64,), 8192,
                         global_batch_tokens=2e6)
    for cand in search_layouts(search).candidates[:20]:
        est = cand.estimate
        assert est.memory_per_gpu_bytes <= est.memory_capacity_bytes
        again = estimate_training(CAT.model("llama3-70b"), H100, 64, cand.parallel,
                                  cand.config)
        assert again.step_time_s == pytest.approx(est.step_time_s)
        assert cand.config.global_batch_size % (est.dp * cand.config.micro_batch_size) == 0


def test_nothing_fits_says_by_how_much() -> None:
    search = TrainSearch(CAT.model("llama3.1-405b"), H100, (8,), 8192, global_batch_size=8)
    with pytest.raises(DoesNotFitError) as info:
        search_layouts(search)
    assert "GiB more per GPU" in str(info.value) and "no layout" in str(info.value)


def test_cost_objective_prefers_fewer_gpus_when_time_is_similar() -> None:
    search = TrainSearch(CAT.model("llama3-8b"), H100, (8, 64), 8192, global_batch_size=512,
                         objective="cost", tokens=1e11, usd_per_gpu_hour=2.0)
    by_cost = search_layouts(search).best
    fast = search_layouts(TrainSearch(CAT.model("llama3-8b"), H100, (8, 64), 8192,
                                      global_batch_size=512)).best
    assert fast.num_gpus == 64  # more GPUs, more tokens per second
    cost = by_cost.estimate.time_to_train_s or 0.0
    assert by_cost.score == pytest.approx(cost / 3600 * by_cost.num_gpus * 2.0)


@pytest.mark.parametrize(("text", "counts"), [
    ("16384", (16384,)), ("1024,2048", (1024, 2048)), ("1024:8192", (1024, 2048, 4096, 8192)),
])
def test_gpu_count_choices(text: str, counts: tuple[int, ...]) -> None:
    assert num_gpus_choices(text) == counts


def test_bad_gpu_count_choice() -> None:
    with pytest.raises(InputError, match="--num-gpus"):
        num_gpus_choices("8:2")


def test_cli_json_has_the_documented_fields() -> None:
    out = CliRunner().invoke(cli, ["plan", "train", "--model", "llama3-70b", "--gpu",
                                   "h100-sxm-80gb", "--num-gpus", "64",
                                   "--global-batch-size", "128", "--json", "--top", "3"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert len(data["candidates"]) == 3
    for cand in data["candidates"]:
        assert set(cand["layout"]) >= {"tp", "pp", "cp", "ep", "dp", "interleave",
                                       "micro_batch_size", "recompute", "zero_stage",
                                       "sequence_parallel", "dtype"}
        assert cand["step_time_s"] > 0 and 0 < cand["mfu"] < 1
        assert cand["memory_per_gpu_bytes"] <= cand["memory_capacity_bytes"]
    assert data["candidates"][0]["loses_on"] == ""
    assert data["num_timed"] >= 3 and data["seq_len"] == 8192


def test_cli_text_and_refusal_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    ok = CliRunner().invoke(cli, ["plan", "train", "--model", "llama3-8b", "--gpu",
                                  "h100-sxm-80gb", "--num-gpus", "8"])
    assert ok.exit_code == 0 and "best" in ok.output and "were timed" in ok.output
    with pytest.raises(SystemExit) as info:
        main(["plan", "train", "--model", "llama3.1-405b", "--gpu", "h100-sxm-80gb",
              "--num-gpus", "8"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: no layout") and err[-1] == "\n"


@pytest.mark.parametrize(("gpu", "dtypes"), [
    ("a100-sxm-80gb", {"bf16"}),  # was: "dtype fp8 is not supported by a100-sxm-80gb"
    ("h100-sxm-80gb", {"bf16", "fp8"}),
])
def test_dtype_any_tries_what_the_part_supports(gpu: str, dtypes: set[str]) -> None:
    hw = resolve_hardware(default_catalog(), gpu=gpu)
    assert set(search_dtypes(["any"], hw)) == dtypes
    out = CliRunner().invoke(cli, ["plan", "train", "--model", "llama3-8b", "--gpu", gpu,
                                   "--num-gpus", "8", "--dtype", "any", "--json"])
    assert out.exit_code == 0, out.output
    assert {c["layout"]["dtype"] for c in json.loads(out.output)["candidates"]} <= dtypes


def test_a_named_dtype_the_part_lacks_is_still_refused() -> None:
    hw = resolve_hardware(default_catalog(), gpu="a100-sxm-80gb")
    assert search_dtypes(["fp8", "any"], hw) == ("fp8", "bf16")
    out = CliRunner().invoke(cli, ["plan", "train", "--model", "llama3-8b", "--gpu",
                                   "a100-sxm-80gb", "--num-gpus", "8", "--dtype", "fp8"])
    assert out.exit_code != 0 and "dtype fp8 is not supported by a100-sxm-80gb" in str(
        out.exception) + out.output


def test_estimate_energy_plans_the_layout_and_says_so() -> None:

    planned = energy_of(model="llama3-8b", gpu="h100-sxm-80gb", num_gpus=64,
                              tokens=1e10).to_dict()
    assert planned["layout"]["source"] == "planned"
    given = energy_of(model="llama3-8b", gpu="h100-sxm-80gb", num_gpus=64,
                            tokens=1e10, tp=2).to_dict()
    assert given["layout"]["source"] == "given" and given["layout"]["tp"] == 2
    assert planned["gpu_hours"] <= given["gpu_hours"] * 1.0001


def test_bound_keeps_the_top_layouts_exact() -> None:
    """Branch and bound only drops layouts that cannot enter the ``keep`` best."""
    base = dict(model=CAT.model("llama3-70b"), hw=H100, num_gpus=(64,), seq_len=8192,
                global_batch_size=128)
    full = search_layouts(TrainSearch(**base, keep=10**9))  # type: ignore[arg-type]
    top = search_layouts(TrainSearch(**base, keep=5))  # type: ignore[arg-type]
    assert top.rejected["bounded"] > 0 and "bounded" not in full.rejected
    assert [c.score for c in top.candidates[:5]] == pytest.approx(
        [c.score for c in full.candidates[:5]])


@pytest.mark.parametrize(("tp", "pp", "v", "cp", "mbs", "rc"), [
    (1, 1, 1, 1, 1, "none"), (8, 4, 2, 1, 1, "selective"), (4, 8, 5, 2, 2, "full"),
    (2, 2, 1, 4, 1, "selective"),
])
def test_step_lower_bound_is_below_the_estimate(tp: int, pp: int, v: int, cp: int, mbs: int,
                                                rc: str) -> None:
    from gputwin.perf.training import step_lower_bound_s

    model = CAT.model("llama3-70b")
    p = ParallelConfig(tp, pp, cp, 1, v, sequence_parallel=tp > 1)
    cfg = TrainingConfig(256, mbs, 8192, recompute=rc)  # type: ignore[arg-type]
    est = estimate_training(model, H100, 256, p, cfg, check_memory=False)
    bound = step_lower_bound_s(model, H100, 256, p, cfg)
    assert 0.5 * est.step_time_s < bound <= est.step_time_s


_PLAN8 = ["plan", "train", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--num-gpus",
          "8", "--top", "2"]


@pytest.mark.parametrize(("objective", "header", "cell"), [
    ("cost", "USD to train 1T tokens (no --tokens given)", "$"),
    ("energy", "GPU energy to train 1T tokens", "MWh"),
    ("time", "ranked by time: time to train 1T tokens", " d "),
])
def test_text_shows_what_the_objective_ranks_by(objective: str, header: str, cell: str) -> None:
    """`ranked by cost` used to show no cost at all (and not say it assumes 1T tokens)."""
    res = CliRunner().invoke(cli, [*_PLAN8, "--objective", objective])
    assert res.exit_code == 0, res.output
    first, *rows = res.output.splitlines()
    assert header in first
    assert any(cell in row for row in rows[2:4])


def test_owned_provider_with_a_pricing_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """As in `estimate energy`: owned GPUs have no rental pricing (it was ignored)."""
    with pytest.raises(SystemExit) as stop:
        main([*_PLAN8, "--objective", "cost", "--provider", "owned", "--pricing", "spot"])
    assert stop.value.code == 2
    assert "--pricing: pricing 'spot' applies to rented GPUs" in capsys.readouterr().err


def test_owned_cost_objective_pays_the_power_the_owned_rate_leaves_apart() -> None:
    """The owned rate bills energy apart; plan train has no energy bill of its own, so an
    owned GPU-hour is the owned rate plus its power at full activity (tco.yaml)."""
    from gputwin.energy.accounting import allocation_rates
    from gputwin.energy.tco import OwnedAssumptions, owned_cost

    res = CliRunner().invoke(cli, [*_PLAN8, "--objective", "cost", "--provider", "owned",
                                   "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    hw = resolve_hardware(default_catalog(), gpu="h100-sxm-80gb")
    rate = allocation_rates(hw.accelerator.name, hw.accelerator.tdp_w, provider="owned")
    full = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(activity_frac=1.0))
    usd_h = rate.compute_usd_per_gpu_s * 3600 + full.usd_per_year["power"] / 8760
    best = d["candidates"][0]
    assert best["score"] == pytest.approx(1e12 / best["tokens_per_s"] / 3600 * 8 * usd_h)
    assert "power" in d["price_basis"] and "billed apart" not in d["price_basis"]


def test_moe_dispatch_choices_reach_every_layout_that_can_run_them() -> None:
    model = CAT.model("qwen3-30b-a3b")
    search = TrainSearch(model, H100, (64,), 4096, global_batch_size=256, dtypes=("fp8",),
                         keep=40, ep_dispatcher="deepep", ep_dispatch_fp8=True,
                         moe_a2a_overlap=True)
    cands = search_layouts(search).candidates
    with_ep = [c for c in cands if c.parallel.ep > 1]
    assert with_ep, "the search keeps expert-parallel layouts"
    for cand in cands:
        p, cfg = cand.parallel, cand.config
        assert p.ep_dispatcher == "deepep" and p.ep_dispatch_fp8
        allowed = (p.ep > 1 and cfg.recompute != "full" and (p.pp == 1 or p.interleave > 1)
                   and cfg.global_batch_size // (cfg.micro_batch_size * cand.estimate.dp) > 1)
        assert p.moe_a2a_overlap == allowed
        # each candidate's estimate is what a plain estimate of its layout gives
        again = estimate_training(model, H100, 64, p, cfg)
        assert again.step_time_s == pytest.approx(cand.estimate.step_time_s)
    assert any(c.parallel.moe_a2a_overlap for c in with_ep)


def test_dualpipe_search_adds_the_layouts_that_can_run_it() -> None:
    model = CAT.model("qwen3-30b-a3b")
    base: dict[str, Any] = dict(global_batch_size=512, dtypes=("fp8",), keep=200,
                                ep_dispatcher="deepep", moe_a2a_overlap=True)
    plain = search_layouts(TrainSearch(model, H100, (64,), 4096, **base))
    both = search_layouts(TrainSearch(model, H100, (64,), 4096, try_dualpipe=True, **base))
    dual = [c for c in both.candidates if c.parallel.pipeline_schedule == "dualpipe"]
    assert dual, "some layouts run DualPipe"
    assert not [c for c in plain.candidates if c.parallel.pipeline_schedule == "dualpipe"]
    for cand in dual[:10]:
        p, cfg = cand.parallel, cand.config
        assert p.pp % 2 == 0 and p.interleave == 1
        assert (cfg.global_batch_size // (cfg.micro_batch_size * cand.estimate.dp)) % 2 == 0
        again = estimate_training(model, H100, 64, p, cfg)
        assert again.step_time_s == pytest.approx(cand.estimate.step_time_s)
    assert both.best.score <= plain.best.score


def test_allow_offload_finds_the_fewest_offloaded_layers_that_fit() -> None:
    """NeMo runs Llama 3 70B on 64 GB200 with FSDP and no recomputation by sending the
    first layers' activations to the Grace CPU; the planner finds that layout only when
    offload is allowed, with the fewest layers that make it fit."""
    hw = resolve_hardware(CAT, system="gb200-nvl72")
    base = dict(model=CAT.model("llama3-70b"), hw=hw, num_gpus=(64,), seq_len=8192,
                global_batch_size=128, dtypes=("fp8",))
    plain = search_layouts(TrainSearch(**base))  # type: ignore[arg-type]
    assert all(c.parallel.offload_activation_layers == 0 for c in plain.candidates)
    offl = search_layouts(TrainSearch(**base, allow_offload=True))  # type: ignore[arg-type]
    found = [c for c in offl.candidates if c.parallel.offload_activation_layers]
    assert found and all(c.parallel.pp == 1 and c.config.recompute == "none" for c in found)
    best = found[0]
    assert best.estimate.memory_per_gpu_bytes <= hw.accelerator.usable_memory
    fewer = replace(best.parallel,
                    offload_activation_layers=best.parallel.offload_activation_layers - 1)
    with pytest.raises(DoesNotFitError):
        estimate_training(CAT.model("llama3-70b"), hw, best.num_gpus, fewer, best.config)
    assert best.layout()["offload_activation_layers"] == best.parallel.offload_activation_layers
    assert offl.candidates[0].estimate.tokens_per_s >= plain.candidates[0].estimate.tokens_per_s


def test_recompute_ladder_by_architecture() -> None:
    from gputwin.plan.train import recompute_ladder

    assert recompute_ladder(CAT.model("llama3-70b")) == (("none", None), ("full", None))
    assert recompute_ladder(CAT.model("mixtral-8x22b")) == (
        ("none", None), ("selective", ("moe_act",)), ("full", None))
    assert recompute_ladder(CAT.model("deepseek-v3")) == (
        ("none", None), ("selective", ("moe_act",)),
        ("selective", ("moe_act", "mla_up_proj")), ("full", None))


def test_planner_takes_the_cheap_selective_rung_where_none_does_not_fit() -> None:
    """DeepSeek-V3 on 256 GB200: layouts without recomputation that miss by a little fit
    with the MLA up-projections recomputed, as NeMo's recipes run them, and beat full."""
    hw = resolve_hardware(CAT, system="gb200-nvl72")
    result = search_layouts(TrainSearch(CAT.model("deepseek-v3"), hw, (256,), 4096,
                                        global_batch_size=2048, dtypes=("fp8",)))
    modules = {c.config.recompute_modules for c in result.candidates
               if c.config.recompute == "selective"}
    assert ("moe_act", "mla_up_proj") in modules
    best = result.best
    assert best.config.recompute_modules == ("moe_act", "mla_up_proj")
    none = replace(best.config, recompute="none", recompute_modules=None)
    with pytest.raises(DoesNotFitError):  # the same layout without it does not fit
        estimate_training(CAT.model("deepseek-v3"), hw, 256, best.parallel, none)


def test_a_planned_layout_keeps_its_recomputed_modules() -> None:
    """Everything that runs the planner's best layout (estimate energy, scenarios) gets its
    selective modules too: without them the layout would not fit."""
    from gputwin.requests import TrainLayout, TrainRequest
    from gputwin.run.plan_train import planned_estimate

    request = TrainRequest(model="deepseek-v3", system="gb200-nvl72", num_gpus=256,
                           global_batch_size=2048, seq_len=4096,
                           layout=TrainLayout(dtype="fp8"))
    est, chosen = planned_estimate(request)
    assert chosen.layout.recompute == "selective"
    assert chosen.layout.recompute_modules == ["moe_act", "mla_up_proj"]
    assert est.memory_per_gpu_bytes <= est.memory_capacity_bytes
