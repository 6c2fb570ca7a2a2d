"""SRAM-resident dataflow serving (Groq LPU, Cerebras WSE-3) against published speeds."""

from __future__ import annotations

import pytest

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


def test_moe_latency_is_paid_on_moe_layers_only() -> None:
    # Llama 4 Maverick alternates dense and MoE layers (24 + 24), Scout has experts in all
    # 48: with the SRAM read negligible, Maverick's fixed latency covers 24 x 2 + 24 = 72
    # layer crossings and Scout's 96.
    from gputwin.perf.dataflow import dataflow_table

    table = dataflow_table()
    part = table.parts["cerebras-wse3"]
    lat = part.stacks["2024-08"].layer_latency_s  # the launch stack: no speculation
    acc = CAT.accelerator("cerebras-wse3")
    for name, crossings in (("llama4-maverick", 24 * table.moe_layer_factor + 24),
                            ("llama4-scout", 48 * table.moe_layer_factor)):
        est = estimate_dataflow(acc, CAT.model(name), input_tokens=8, output_tokens=8,
                                stack="2024-08")
        assert est.tpot_s == pytest.approx(crossings * lat, rel=0.05), name


def test_speculation_speeds_up_large_models_only() -> None:
    # Cerebras' Oct 2024 release: 70B 450 -> 2,100 tokens/s, the 8B still ~1,800
    from gputwin.perf.dataflow import dataflow_table

    spec = dataflow_table().parts["cerebras-wse3"].stacks["2024-10"].speculation
    assert spec is not None
    acc = CAT.accelerator("cerebras-wse3")
    for name, sped_up in (("llama3.1-8b", False), ("llama3.1-70b", True)):
        old, new = (estimate_dataflow(acc, CAT.model(name), input_tokens=8, output_tokens=8,
                                      stack=s).tpot_s for s in ("2024-08", "2024-10"))
        assert old / new == pytest.approx(spec.speedup if sped_up else 1.0), name


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


def test_cli_unknown_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from gputwin.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["estimate", "dataflow", "--model", "llama2-70b", "--gpu", "groq-lpu",
              "--stack", "1999-01"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--stack" in err and "2024-02" in err and "Traceback" not in err
