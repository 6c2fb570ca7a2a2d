"""The eager forward's host launch time (engine figure ``eager_layer_s``): a step that
carries prompt tokens runs outside the CUDA graphs, and a release profile that sets the
figure charges ``eager_layer_s`` per layer of it, in series with the device; pure-decode
steps (graph replays) are unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from perf_serving_builders import components_total_s, make_perf, write_engines_yaml

from gputwin.errors import InputError
from gputwin.perf.engines import engine_names, engine_profile, load_engine_profiles
from gputwin.perf.serving import step_components

#: profiles whose prefill forward is charged a launch time per layer
EAGER = {"sglang-0.3", "vllm-0.6"}


def test_only_the_named_releases_charge_an_eager_forward() -> None:
    for name in engine_names():
        p = engine_profile(name)
        if name in EAGER:
            assert p.eager_layer_s > 0.0
            assert "FITTED" in p.sources["eager_layer_s"]
            assert p.eager_layer_s == engine_profile("sglang-0.3").eager_layer_s  # one figure
        else:
            assert p.eager_layer_s == 0.0


@pytest.mark.parametrize(("model", "gpu", "tp"), [("llama3.1-8b", "a100-sxm-80gb", 1),
                                                  ("llama3.1-70b", "h100-sxm-80gb", 4)])
def test_a_prefill_step_costs_the_launch_time_of_every_layer(model: str, gpu: str,
                                                             tp: int) -> None:
    old, base = (make_perf(model, gpu=gpu, tp=tp, engine=e) for e in ("sglang-0.3", "sglang"))
    layers = old.config.model.num_layers
    eager = engine_profile("sglang-0.3").eager_layer_s
    for tokens in (1, 150, 4096):
        args = (tokens, 0.0, tokens * tokens / 2.0, 0, 0.0)  # a prefill batch, no decoders
        assert old.step_time_s(*args) - base.step_time_s(*args) == pytest.approx(
            layers * eager, rel=1e-9)


def test_a_decode_step_is_a_graph_replay_without_launch_time() -> None:
    old, base = (make_perf("llama3.1-70b", tp=4, engine=e) for e in ("sglang-0.3", "sglang"))
    seq = engine_profile("sglang-0.3").per_seq_overhead_s - engine_profile(
        "sglang").per_seq_overhead_s
    for n in (1, 16, 64):
        diff = old.step_time_s(0, 0.0, 0.0, n, 400.0 * n) - base.step_time_s(
            0, 0.0, 0.0, n, 400.0 * n)
        assert diff == pytest.approx(n * seq, rel=1e-9)


@pytest.mark.parametrize(("prefill", "decode"), [(0, 8), (120, 0), (512, 32), (8192, 0)])
def test_components_sum_to_the_step_with_an_eager_forward(prefill: int, decode: int) -> None:
    p = make_perf("llama3.1-70b", tp=4, engine="sglang-0.3")
    args = (prefill, 0.0, prefill * prefill / 2.0, decode, 400.0 * decode)
    total = components_total_s(p, step_components(p, *args))
    assert total == pytest.approx(p.step_time_s(*args), rel=1e-9)


def test_the_loader_bounds_the_figure(tmp_path: Path) -> None:
    def too_big(data: dict[str, Any]) -> None:
        data["engines"]["sglang-0.3"]["host"]["eager_layer_s"]["value"] = 0.5

    with pytest.raises(InputError, match="eager_layer_s"):
        load_engine_profiles(write_engines_yaml(tmp_path, too_big))


def test_vllm_06_accepts_multi_step_and_prefills_eagerly() -> None:
    from gputwin.scenario.serving_engine import EngineOptions

    assert EngineOptions(name="vllm-0.6", num_scheduler_steps=10).num_scheduler_steps == 10
    old, base = (make_perf("llama3.1-70b", tp=4, engine=e) for e in ("vllm-0.6", "vllm"))
    step = (engine_profile("vllm-0.6").step_overhead_for("nvidia")
            - engine_profile("vllm").step_overhead_for("nvidia"))
    eager = 80 * engine_profile("vllm-0.6").eager_layer_s
    prefill = (230, 0.0, 230 * 115.0, 0, 0.0)
    decode = (0, 0.0, 0.0, 32, 32 * 400.0)
    assert old.step_time_s(*prefill) - base.step_time_s(*prefill) == pytest.approx(
        step + eager, rel=1e-9)
    assert old.step_time_s(*decode) - base.step_time_s(*decode) == pytest.approx(
        step, rel=1e-9)
