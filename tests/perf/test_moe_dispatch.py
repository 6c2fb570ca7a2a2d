"""MoE training communication: the dispatcher (all-to-all vs forwarding through the node),
FP8 dispatch, group-limited routing, the 1F1B A2A overlap and DualPipe."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from perf_builders import flat_train
from tests.cli_run import run_cli

from gputwin.errors import InputError
from gputwin.perf.calibration import default_calibration
from gputwin.perf.pipeline import bubble_s, dualpipe_bubble_s
from gputwin.perf.wide_ep import ranks_per_token, remote_domains_per_token

# DeepSeek-V3 on 64 H100 nodes: EP64 spans 8 nodes, PP4 with 4 virtual stages.
DSV3 = dict(model="deepseek-v3", gpu="h100-sxm-80gb", num_gpus=512, pp=4, interleave=4,
            ep=64, global_batch_size=1024, micro_batch_size=1, seq_len=4096, dtype="fp8",
            check_memory=False)


def _monte_carlo_reached(num_experts: int, top_k: int, holders: int, groups: int,
                         groups_per_token: int, *, count_own: bool,
                         tokens: int = 40_000) -> float:
    """Holders (domains or GPUs, each with an equal slice of the experts) of a token's
    experts when it picks ``groups_per_token`` random groups and then ``top_k`` random
    experts among them; without ``count_own`` the sender's (holder 0) is not counted."""
    rng = np.random.default_rng(7)
    per_group, per_holder = num_experts // groups, num_experts // holders
    total = 0
    for _ in range(tokens):
        picked = rng.choice(groups, groups_per_token, replace=False)
        pool = np.concatenate([np.arange(g * per_group, (g + 1) * per_group) for g in picked])
        reached = set((rng.choice(pool, top_k, replace=False) // per_holder).tolist())
        total += len(reached if count_own else reached - {0})
    return total / tokens


@pytest.mark.parametrize("domains", [4, 8, 16])
def test_group_limited_remote_domains_match_a_simulation(domains: int) -> None:
    # DeepSeek-V3: 256 experts in 8 groups, a token's 8 experts from its best 4 groups
    formula = remote_domains_per_token(256, 8, domains, groups=8, groups_per_token=4)
    assert formula == pytest.approx(
        _monte_carlo_reached(256, 8, domains, 8, 4, count_own=False), rel=0.02)
    assert formula < remote_domains_per_token(256, 8, domains)  # the limit saves traffic


def test_group_limited_routing_over_eight_nodes_has_a_closed_form() -> None:
    # one group per node: a given remote node is one of the 4 picked groups half the time,
    # and then misses all 8 experts with probability C(96, 8) / C(128, 8)
    miss = math.comb(96, 8) / math.comb(128, 8)
    expected = 7 * 0.5 * (1 - miss)
    assert remote_domains_per_token(256, 8, 8, groups=8, groups_per_token=4) == (
        pytest.approx(expected))
    # no limit when every group may be picked
    assert remote_domains_per_token(256, 8, 8, groups=8, groups_per_token=8) == (
        pytest.approx(remote_domains_per_token(256, 8, 8)))


def test_forwarding_dispatcher_moves_less_over_the_network() -> None:
    plain = flat_train(**DSV3)
    forwarded = flat_train(**DSV3, ep_dispatcher="deepep")
    assert forwarded.breakdown["ep_comm_s"] < 0.8 * plain.breakdown["ep_comm_s"]
    assert forwarded.step_time_s < plain.step_time_s
    # the other parts of the step are the same
    for key in ("compute_s", "tp_comm_s", "dp_comm_s"):
        assert forwarded.breakdown[key] == pytest.approx(plain.breakdown[key])
    # HybridEP forwards the same way
    hybrid = flat_train(**DSV3, ep_dispatcher="hybridep")
    assert hybrid.step_time_s == pytest.approx(forwarded.step_time_s)


@pytest.mark.parametrize(("experts", "top_k", "ranks", "groups", "picked"),
                         [(256, 8, 8, 8, 4), (256, 8, 32, 8, 4), (256, 8, 64, 1, 1),
                          (128, 8, 8, 1, 1), (128, 8, 16, 1, 1)])
def test_per_rank_copies_match_a_simulation(experts: int, top_k: int, ranks: int,
                                            groups: int, picked: int) -> None:
    formula = ranks_per_token(experts, top_k, ranks, groups=groups, groups_per_token=picked)
    assert formula == pytest.approx(
        _monte_carlo_reached(experts, top_k, ranks, groups, picked, count_own=True), rel=0.02)
    assert 1.0 < formula < top_k  # several experts share a GPU
    assert ranks_per_token(experts, top_k, 1) == top_k  # one rank: nothing to count


def test_inside_one_node_deepep_sends_one_copy_per_gpu_not_per_expert() -> None:
    one_node = dict(DSV3, num_gpus=64, pp=8, interleave=1, ep=8, global_batch_size=64)
    plain = flat_train(**one_node)
    deepep = flat_train(**one_node, ep_dispatcher="deepep")
    # DeepSeek-V3 on EP8: each GPU holds one of the 8 expert groups and a token's experts
    # come from 4 groups, so they sit on at most 4 GPUs (3.6 on average), not 8
    copies = ranks_per_token(256, 8, 8, groups=8, groups_per_token=4)
    assert 3.0 < copies < 4.0
    assert deepep.breakdown["ep_comm_s"] < plain.breakdown["ep_comm_s"]
    assert deepep.breakdown["ep_comm_s"] == pytest.approx(
        plain.breakdown["ep_comm_s"] * copies / 8, rel=0.05)


def test_fp8_dispatch_saves_less_than_half_of_the_all_to_all() -> None:
    bf16 = flat_train(**DSV3, ep_dispatcher="deepep").breakdown["ep_comm_s"]
    fp8 = flat_train(**DSV3, ep_dispatcher="deepep", ep_dispatch_fp8=True).breakdown["ep_comm_s"]
    # only the forward dispatch shrinks (to ~half); combine and the backward stay BF16
    assert 0.75 * bf16 < fp8 < 0.95 * bf16


def test_a2a_overlap_hides_behind_compute_but_keeps_the_sm_share() -> None:
    c = default_calibration()
    est = flat_train(**DSV3)
    total = est.extra["ep_comm_total_s"]  # before any overlap
    plain = est.breakdown["ep_comm_s"]
    assert plain == pytest.approx((1.0 - c.ep_overlap_frac) * total)
    over = flat_train(**DSV3, moe_a2a_overlap=True)
    assert over.extra["ep_comm_total_s"] == pytest.approx(total)
    assert over.breakdown["ep_comm_s"] < plain
    assert over.breakdown["ep_comm_s"] >= c.a2a_overlap_sm_frac * total * (1 - 1e-9)


@pytest.mark.parametrize(("change", "needs"), [
    (dict(interleave=1), "interleave > 1"),
    (dict(recompute="full"), "full recomputation"),
    (dict(global_batch_size=512, pp=1, interleave=1), "at least 2 micro-batches"),
])
def test_a2a_overlap_refuses_what_the_schedule_cannot_run(change: dict[str, object],
                                                          needs: str) -> None:
    with pytest.raises(InputError, match=needs):
        flat_train(**{**DSV3, **change}, moe_a2a_overlap=True)


def test_dualpipe_bubble_follows_the_report() -> None:
    # (PP/2 - 1)(F&B + B - 3W) with F&B = F + B and W = F when B >= 2F
    assert dualpipe_bubble_s(16, 1.0, 2.0) == pytest.approx(7 * (3 + 2 - 3))
    assert dualpipe_bubble_s(16, 1.0, 2.0) < bubble_s(16, 1, 3.0)
    assert dualpipe_bubble_s(1, 1.0, 2.0) == 0.0


def test_dualpipe_shrinks_the_bubble_and_doubles_the_weights() -> None:
    base = dict(DSV3, pp=16, interleave=1, num_gpus=1024, global_batch_size=512,
                ep_dispatcher="deepep")
    plain = flat_train(**base)
    dual = flat_train(**base, pipeline_schedule="dualpipe")
    assert dual.breakdown["bubble_s"] < 0.5 * plain.breakdown["bubble_s"]
    assert dual.breakdown["ep_comm_s"] < plain.breakdown["ep_comm_s"]  # paired chunks hide it
    assert dual.memory.weights_bytes == pytest.approx(2 * plain.memory.weights_bytes)
    assert dual.memory.gradients_bytes == pytest.approx(2 * plain.memory.gradients_bytes)
    assert dual.memory.optimizer_bytes == pytest.approx(plain.memory.optimizer_bytes)


@pytest.mark.parametrize(("change", "needs"), [
    (dict(pp=4, interleave=2), "interleave 1"),
    (dict(pp=1, interleave=1), "even pp"),
    (dict(global_batch_size=128 * 3), "even number"),  # dp 128: 3 micro-batches
])
def test_dualpipe_refuses_layouts_it_cannot_pair(change: dict[str, object], needs: str) -> None:
    base = dict(DSV3, pp=4, interleave=1, global_batch_size=1024)
    with pytest.raises(InputError, match=needs):
        flat_train(**{**base, **change}, pipeline_schedule="dualpipe")


DSV3_CLI = ["estimate", "train", "--model", "deepseek-v3", "--gpu", "h800-sxm-80gb",
            "--num-gpus", "2048", "--pp", "16", "--ep", "64", "--global-batch-size", "15360",
            "--seq-len", "4096", "--dtype", "fp8", "--no-memory-check"]


def test_cli_takes_the_dispatch_options(capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--ep-dispatcher", "deepep", "--ep-dispatch-fp8", "--pipeline-schedule", "dualpipe"]
    code, out, _ = run_cli([*DSV3_CLI, *flags], capsys)
    assert code == 0
    assert "deepep fp8-dispatch" in " ".join(out.split()) and "dualpipe" in out
    code, out, _ = run_cli([*DSV3_CLI, *flags, "--json"], capsys)
    faster = json.loads(out)["step_time_s"]
    code, out, _ = run_cli([*DSV3_CLI, "--json"], capsys)
    assert faster < json.loads(out)["step_time_s"]


def test_cli_refuses_an_overlap_the_schedule_cannot_run(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    code, out, err = run_cli([*DSV3_CLI, "--moe-a2a-overlap"], capsys)
    assert code == 2
    assert "interleave > 1" in out + err and "Traceback" not in out + err


def test_dualpipe_shares_the_end_stages_work_between_mirrored_ranks() -> None:
    # the last stage carries the logits: under 1F1B it sets the pace, under DualPipe the
    # rank holding it also holds the first stage, so the pace is the mirrored pair's mean
    base = dict(DSV3, pp=16, interleave=1, num_gpus=1024, global_batch_size=512)
    plain = flat_train(**base)
    dual = flat_train(**base, pipeline_schedule="dualpipe")
    assert plain.breakdown["stage_imbalance_s"] > 0
    assert dual.breakdown["stage_imbalance_s"] < plain.breakdown["stage_imbalance_s"]


def test_the_planners_lower_bound_holds_under_dualpipe() -> None:
    # one GPU per stage and a heavy last stage (Llama 3's 128k-word logits): the bound must
    # use DualPipe's paired pace, or it exceeds the step it bounds and prunes good layouts
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.training import (
        ParallelConfig,
        TrainingConfig,
        estimate_training,
        step_lower_bound_s,
    )
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="h100-sxm-80gb")
    model = cat.model("llama3-8b")
    cfg = TrainingConfig(global_batch_size=16, micro_batch_size=1, seq_len=8192)
    for schedule in ("1f1b", "dualpipe"):
        p = ParallelConfig(pp=8, pipeline_schedule=schedule)  # type: ignore[arg-type]
        step = estimate_training(model, hw, 8, p, cfg, check_memory=False).step_time_s
        assert step_lower_bound_s(model, hw, 8, p, cfg) <= step
