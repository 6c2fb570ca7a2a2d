"""SRAM-resident dataflow serving (Groq LPU, Cerebras WSE-3) against published speeds."""

from __future__ import annotations

import pytest
from tests.cli_run import run_cli

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError, UnknownNameError
from gputwin.perf.dataflow import estimate_dataflow

CAT = default_catalog()

def test_older_stack_is_slower_and_newest_is_the_default() -> None:
    # published figures per stack are validation cases (validation/cases/dataflow.yaml)
    acc, m = CAT.accelerator("cerebras-wse3"), CAT.model("llama3.1-70b")
    launch = estimate_dataflow(acc, m, input_tokens=512, output_tokens=512, stack="2024-08")
    default = estimate_dataflow(acc, m, input_tokens=512, output_tokens=512)
    assert default.stack == "2024-10" and launch.stack == "2024-08"
    assert default.tokens_per_s_per_user > 2.5 * launch.tokens_per_s_per_user
    assert default.chips == launch.chips  # the stack changes speed, not capacity
    assert estimate_dataflow(acc, m, input_tokens=8, output_tokens=8).to_dict()["stack"] == \
        "2024-10"


def test_unknown_stack_names_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="2024-02"):
        estimate_dataflow(CAT.accelerator("groq-lpu"), CAT.model("llama3-8b"),
                          input_tokens=8, output_tokens=8, stack="2023-01")


def test_moe_latency_is_paid_twice_on_groq_and_once_on_a_wafer() -> None:
    # Llama 4 Maverick alternates dense and MoE layers (24 + 24), Scout has experts in all
    # 48: with the SRAM read negligible, on Groq (a token leaves the layer's chips for its
    # experts and comes back) Maverick's fixed latency covers 24 x 2 + 24 = 72 layer
    # crossings and Scout's 96; a CS-3 wafer holds a layer's experts (factor 1): 48 each.
    from gputwin.perf.dataflow import dataflow_table

    parts = dataflow_table().parts
    assert parts["groq-lpu"].moe_layer_factor == 2.0
    assert parts["cerebras-wse3"].moe_layer_factor == 1.0
    for gpu, stack in (("groq-lpu", "2024-02"), ("cerebras-wse3", "2024-08")):
        part = parts[gpu]
        lat = part.stacks[stack].layer_latency_s  # stacks without speculation or hops
        assert part.stacks[stack].system_hop_s == 0.0
        for name, moe_layers in (("llama4-maverick", 24), ("llama4-scout", 48)):
            crossings = 48 + moe_layers * (part.moe_layer_factor - 1)
            est = estimate_dataflow(CAT.accelerator(gpu), CAT.model(name), input_tokens=8,
                                    output_tokens=8, stack=stack)
            assert est.tpot_s == pytest.approx(crossings * lat, rel=0.05), (gpu, name)


def test_an_moe_layer_inside_one_groq_node_pays_the_latency_once() -> None:
    # a GroqNode's 8 LPUs are fully connected: gpt-oss-20b (176 LPUs over 24 layers, 7.3 per
    # layer) reaches its experts like a dense layer's peers; Mixtral (392 over 32, 12.3 per
    # layer) leaves the node and pays twice
    from gputwin.perf.dataflow import dataflow_table

    part = dataflow_table().parts["groq-lpu"]
    assert part.moe_local_chips == 8
    lat = part.stacks["2024-02"].layer_latency_s
    acc = CAT.accelerator("groq-lpu")
    for name, factor in (("gpt-oss-20b", 1.0), ("mixtral-8x7b", 2.0)):
        m = CAT.model(name)
        est = estimate_dataflow(acc, m, input_tokens=8, output_tokens=8, stack="2024-02")
        assert (est.chips / m.num_layers <= 8) == (factor == 1.0), name
        assert est.tpot_s == pytest.approx(m.num_layers * factor * lat, rel=0.05), name


def test_speculation_and_system_hops_of_the_oct_2024_release() -> None:
    # Cerebras' Oct 2024 release: 70B 450 -> 2,100 tokens/s, the 8B still ~1,800. The 70B
    # spans 5 wafers (4 crossings), the 8B one.
    from gputwin.perf.dataflow import dataflow_table

    stack = dataflow_table().parts["cerebras-wse3"].stacks["2024-10"]
    spec = stack.speculation
    assert spec is not None and stack.system_hop_s > 0
    acc = CAT.accelerator("cerebras-wse3")
    for name, sped_up in (("llama3.1-8b", False), ("llama3.1-70b", True)):
        old, new = (estimate_dataflow(acc, CAT.model(name), input_tokens=8, output_tokens=8,
                                      stack=s) for s in ("2024-08", "2024-10"))
        hops = old.chips - 1
        expected = (old.tpot_s + hops * stack.system_hop_s) / (spec.speedup if sped_up else 1)
        assert new.tpot_s == pytest.approx(expected), name
    kimi = estimate_dataflow(acc, CAT.model("kimi-k2"), input_tokens=8, output_tokens=8)
    assert kimi.chips > 50  # 1T parameters in 16 bits: a hop at nearly every layer


def test_groq_2026_gain_belongs_to_the_endpoints_of_its_time() -> None:
    # Llama 3 70B (retired in 2025) runs the same under the 2024 and the newest stack;
    # Llama 3.3 70B, served in 2026, gets the newest stack's speed-up.
    acc = CAT.accelerator("groq-lpu")

    def tpot(name: str, stack: str | None) -> float:
        return estimate_dataflow(acc, CAT.model(name), input_tokens=8, output_tokens=8,
                                 stack=stack).tpot_s

    assert tpot("llama3-70b", None) == pytest.approx(tpot("llama3-70b", "2024-02"))
    # the 2026 draft gives Llama 3.3 70B ~1.87x (its acceptance is fitted on 560 tokens/s)
    assert tpot("llama3.3-70b", "2024-02") / tpot("llama3.3-70b", None) == pytest.approx(
        1.87, rel=0.01)


def _expected_tokens(a: float, k: int) -> float:
    return sum(a ** i for i in range(k + 1))  # 1 + a + ... + a^k


def test_physical_draft_pays_its_own_pipeline_and_one_verification_pass() -> None:
    # Groq's 2026 stack: a round drafts k tokens with the 1B draft (k x its own pipeline
    # time, same per-layer latency) and verifies them in one target pass; on SRAM the pass
    # with k + 1 tokens costs what a pass with one does, so the speed-up is
    # E(a, k) x t_target / (k x t_draft + t_target) at the k the estimate reports.
    from gputwin.perf.dataflow import dataflow_table

    spec = dataflow_table().parts["groq-lpu"].stacks["2026-05"].speculation
    assert spec is not None and spec.acceptance is not None and spec.draft_model is not None
    acc = CAT.accelerator("groq-lpu")

    def plain(name: str) -> float:
        return estimate_dataflow(acc, CAT.model(name), input_tokens=8, output_tokens=8,
                                 stack="2024-02").tpot_s

    t_draft = plain(spec.draft_model)
    for name in ("llama3.3-70b", "llama4-scout", "gpt-oss-120b"):
        est = estimate_dataflow(acc, CAT.model(name), input_tokens=8, output_tokens=8)
        k, t_target = est.draft_tokens, plain(name)
        assert 1 <= k <= spec.max_draft_tokens, name
        expected = _expected_tokens(spec.acceptance, k) * t_target / (k * t_draft + t_target)
        assert est.speculation_speedup == pytest.approx(expected, rel=5e-3), name
        # k is the best draft length: one more or one fewer is no faster
        for other in (k - 1, k + 1):
            if 1 <= other <= spec.max_draft_tokens:
                alt = _expected_tokens(spec.acceptance, other) * t_target / (
                    other * t_draft + t_target)
                assert alt <= est.speculation_speedup + 1e-9, (name, other)
    # a slow target pays relatively less for its draft: Scout (3.9 ms) gains more than
    # gpt-oss-120b (2.9 ms), which gains more than gpt-oss-20b (1.0 ms)
    gain = {n: estimate_dataflow(acc, CAT.model(n), input_tokens=8,
                                 output_tokens=8).speculation_speedup
            for n in ("llama4-scout", "gpt-oss-120b", "gpt-oss-20b")}
    assert gain["llama4-scout"] > gain["gpt-oss-120b"] > gain["gpt-oss-20b"] > 1.0
    # endpoints whose published speed shows no draft get none
    for name in ("kimi-k2", "llama4-maverick"):
        assert estimate_dataflow(acc, CAT.model(name), input_tokens=8,
                                 output_tokens=8).draft_tokens == 0, name


def test_no_draft_length_beats_a_pipeline_the_draft_is_as_slow_as() -> None:
    # a draft as slow per token as the target never pays: the estimate keeps plain decoding
    from gputwin.perf.dataflow import DataflowPart, _layout, _speculation, dataflow_table

    part = dataflow_table().parts["groq-lpu"]
    sw = part.stacks["2026-05"]
    assert sw.speculation is not None
    slow = sw.model_copy(update={"speculation": sw.speculation.model_copy(
        update={"draft_model": "llama3.3-70b", "acceptance": 0.5})})
    part2 = DataflowPart.model_validate({**part.model_dump(), "stacks": {"x": slow.model_dump()}})
    lay = _layout(CAT.accelerator("groq-lpu"), part2, "x", CAT.model("llama3.3-70b"), "int8",
                  16, 1)
    assert _speculation(lay, "x", 16, 1) == (1.0, 0)


def test_speculation_is_either_an_effective_speedup_or_physical() -> None:
    from pydantic import ValidationError

    from gputwin.perf.dataflow import Speculation

    base = {"min_params": 20e9, "source": "a test source"}
    Speculation.model_validate({**base, "speedup": 2.0})
    Speculation.model_validate({**base, "acceptance": 0.8, "draft_model": "llama3.2-1b"})
    for bad in ({}, {"acceptance": 0.8}, {"draft_model": "llama3.2-1b"},
                {"speedup": 2.0, "acceptance": 0.8, "draft_model": "llama3.2-1b"}):
        with pytest.raises(ValidationError):
            Speculation.model_validate({**base, **bad})


def test_groq_specdec_endpoint_is_out_of_reach_of_a_draft_on_the_2024_pipeline() -> None:
    # llama-3.1-70b-specdec was published at 1,665 tokens/s; the stack of that endpoint
    # drafts for it, but even acceptance 1 with the longest draft cannot reach the figure
    from gputwin.perf.dataflow import _layout, _speculation, dataflow_table

    acc, m = CAT.accelerator("groq-lpu"), CAT.model("llama3.1-70b")
    est = estimate_dataflow(acc, m, input_tokens=1000, output_tokens=500,
                            stack="2024-11-specdec")
    assert est.draft_tokens > 0 and 500 < est.tokens_per_s_per_user < 700
    part = dataflow_table().parts["groq-lpu"]
    sw = part.stacks["2024-11-specdec"]
    assert sw.speculation is not None
    perfect = sw.model_copy(update={"speculation": sw.speculation.model_copy(
        update={"acceptance": 0.999999})})
    part2 = part.model_copy(update={"stacks": {"2024-11-specdec": perfect}})
    lay = _layout(acc, part2, "2024-11-specdec", m, "int8", 1500, 1)
    speedup, _ = _speculation(lay, "2024-11-specdec", 1500, 1)
    assert speedup / lay.pass_time_s(1) < 0.7 * 1665


def test_chip_counts_follow_the_weights() -> None:
    # Groq: Llama 2 70B took 576 chips; Cerebras: 70B on 4 CS-3 (usable share rounds to 5)
    assert 560 <= estimate_dataflow(CAT.accelerator("groq-lpu"), CAT.model("llama2-70b"),
                                    input_tokens=512, output_tokens=512).chips <= 600
    wse = estimate_dataflow(CAT.accelerator("cerebras-wse3"), CAT.model("llama3.1-70b"),
                            input_tokens=512, output_tokens=512)
    assert 4 <= wse.chips <= 5


def test_longer_context_and_batch_need_more_chips_and_lower_speed() -> None:
    acc, m = CAT.accelerator("groq-lpu"), CAT.model("llama3-8b")
    small = estimate_dataflow(acc, m, input_tokens=128, output_tokens=128)
    big = estimate_dataflow(acc, m, input_tokens=4096, output_tokens=1024, batch_size=8)
    assert big.chips > small.chips
    assert big.tpot_s >= small.tpot_s
    assert big.system_output_tokens_per_s > small.system_output_tokens_per_s


def test_bad_input() -> None:
    with pytest.raises(UnknownNameError, match="dataflow part"):
        estimate_dataflow(CAT.accelerator("h100-sxm-80gb"), CAT.model("llama3-8b"),
                          input_tokens=1, output_tokens=1)
    with pytest.raises(InputError):
        estimate_dataflow(CAT.accelerator("groq-lpu"), CAT.model("llama3-8b"),
                          input_tokens=0, output_tokens=1)
    # a request beyond the model's context (llama2: 4,096 tokens): used to price 1,600 GB
    # of KV cache on 14,277 chips instead of refusing
    with pytest.raises(InputError, match="exceeds the 4096-token context of llama2-70b"):
        estimate_dataflow(CAT.accelerator("groq-lpu"), CAT.model("llama2-70b"),
                          input_tokens=10_000_000, output_tokens=512)
    with pytest.raises(InputError, match="input-tokens \\+ --output-tokens = 4608"):
        estimate_dataflow(CAT.accelerator("groq-lpu"), CAT.model("llama2-70b"),
                          input_tokens=4096, output_tokens=512)


def test_cli_prints_chips_and_speed() -> None:
    import json

    from click.testing import CliRunner

    from gputwin.cli.main import cli

    res = CliRunner().invoke(cli, ["estimate", "dataflow", "--model", "llama2-70b",
                                   "--gpu", "groq-lpu", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["chips"] > 500 and d["tokens_per_s_per_user"] > 100
    assert d["stack"] == "2026-05"
    res = CliRunner().invoke(cli, ["estimate", "dataflow", "--model", "llama2-70b",
                                   "--gpu", "groq-lpu", "--stack", "2024-02"])
    assert res.exit_code == 0, res.output
    assert "software stack 2024-02" in res.output


def test_cli_text_says_what_it_assumes() -> None:
    # a newcomer reads the chip kind, the precision, the usable SRAM share, the per-layer
    # latency and the draft (or that the speed-up is an effective, fitted one)
    from click.testing import CliRunner

    from gputwin.cli.main import cli

    def run(*args: str) -> str:
        res = CliRunner().invoke(cli, ["estimate", "dataflow", *args])
        assert res.exit_code == 0, res.output
        return res.output

    groq = run("--model", "llama3.3-70b", "--gpu", "groq-lpu")
    assert "LPUs" in groq and "int8 weights" in groq and "52% of each chip's SRAM" in groq
    assert "40.2 us fixed latency per layer" in groq
    assert "llama3.2-1b-sized draft proposes 4 tokens" in groq
    wafer = run("--model", "llama4-maverick", "--gpu", "cerebras-wse3")
    assert "wafers (one per CS-3 system)" in wafer and "bf16 weights" in wafer
    assert "effective 3.39x" in wafer and "22 crossings between systems" in wafer
    small = run("--model", "llama3.1-8b", "--gpu", "groq-lpu")
    assert "crossings" not in small and "speculative decoding 1" not in small
    assert "no speculative decoding for this model: the stack drafts only for llama3.3-70b" \
        in small
    old = run("--model", "llama3.1-8b", "--gpu", "groq-lpu", "--stack", "2024-02")
    assert "speculative" not in old  # a stack without drafts says nothing about them


def test_cli_unknown_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from gputwin.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["estimate", "dataflow", "--model", "llama2-70b", "--gpu", "groq-lpu",
              "--stack", "1999-01"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--stack" in err and "2024-02" in err and "Traceback" not in err


def test_every_speculation_endpoint_is_a_catalog_model() -> None:
    """A misspelt endpoint would silently get no speed-up."""
    from gputwin.perf.dataflow import dataflow_table

    for part in dataflow_table().parts.values():
        for stack in part.stacks.values():
            spec = stack.speculation
            for name in (spec.models or ()) if spec is not None else ():
                CAT.model(name)  # raises for an unknown name
            if spec is not None and spec.draft_model is not None:
                CAT.model(spec.draft_model)


def test_first_token_takes_a_whole_pass_without_the_speculative_speed_up() -> None:
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.dataflow import estimate_dataflow

    cat = default_catalog()
    est = estimate_dataflow(cat.accelerators["groq-lpu"], cat.model("llama3.3-70b"),
                            input_tokens=512, output_tokens=512)
    assert est.speculation_speedup > 1.5  # the 2026 stack drafts for this model
    one_pass = est.tpot_s * est.speculation_speedup
    assert est.ttft_s > one_pass
    assert est.ttft_s < one_pass * 1.2  # 512 prompt tokens' math is small against the pass


@pytest.mark.parametrize("command", [
    ["estimate", "serve", "--input-tokens", "1000", "--output-tokens", "200"],
    ["simulate", "serve", "--rate", "1", "--num-requests", "5", "--input-tokens", "100",
     "--output-tokens", "10"]])
def test_the_gpu_serving_commands_point_a_dataflow_part_to_its_own_model(
        command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*command, "--model", "llama3.3-70b", "--gpu", "groq-lpu"], capsys)
    assert code == 2
    assert "SRAM-resident dataflow part" in err
    assert "gputwin estimate dataflow --model llama3.3-70b --gpu groq-lpu" in err
    assert "Traceback" not in out + err
