"""Issue 15 item 6: default synthetic lengths fit the model's context; drop reasons name
the limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gputwin.cli.main import main
from gputwin.run.serving_summary import drop_reason_key
from gputwin.scenario.serving_workload import default_lengths


@pytest.mark.parametrize(("model", "prompt_cap", "output_cap"), [
    ("llama2-70b", 2048, 2048), ("llama3-8b", 4096, 4000), ("llama3.1-8b", 16000, 4000)])
def test_defaults_capped_at_half_the_context(model: str, prompt_cap: int,
                                             output_cap: int) -> None:
    prompt, output = default_lengths(model)
    assert prompt == f"lognormal:1000/600:{prompt_cap}"
    assert output == f"lognormal:250/150:{output_cap}"


def test_defaults_of_a_short_context_model_shrink_to_the_cap(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 256,
        "num_attention_heads": 4, "intermediate_size": 512, "vocab_size": 1000,
        "max_position_embeddings": 512}))
    prompt, output = default_lengths(str(config))
    assert prompt == "lognormal:426.667/256:256"  # median 600 -> the cap of 256
    assert output == "lognormal:250/150:256"


def test_default_run_on_an_8k_model_drops_nothing(tmp_path: Path) -> None:
    main(["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--rate", "20",
          "--num-requests", "2000", "--quiet", "--out", str(tmp_path / "o")])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())["services"]["default"]
    assert s["dropped"] == 0 and s["truncated"] == 0 and s["finished"] == 2000


def test_drop_reasons_group_by_the_limit() -> None:
    a = drop_reason_key("prompt of 9000 tokens exceeds max_model_len 8192")
    b = drop_reason_key("prompt of 12000 tokens exceeds max_model_len 8192")
    assert a == b == "prompt longer than the context limit (max_model_len 8192 tokens)"
    assert drop_reason_key("needs 900 KV blocks for prompt + output, the replica has 512") == (
        "prompt + output larger than a replica's KV cache (512 blocks)")
    assert drop_reason_key("something else") == "something else"
