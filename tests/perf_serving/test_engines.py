"""Engine profiles: the registry, the loader's checks and what each profile changes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from perf_serving_builders import write_engines_yaml

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.engines import (
    GraphPaddedStep,
    engine_names,
    engine_profile,
    kv_pool_blocks,
    load_engine_profiles,
)
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.scenario.serving_engine import EngineOptions
from gputwin.scenario.serving_service import ServiceOptions
from gputwin.topology.hardware import resolve_hardware


def _perf(engine: str = "vllm", weights: str = "fp8", model: str = "llama3.1-8b"):
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="h100-sxm-80gb", system=None)
    return prepare_serving(ServingConfig(cat.model(model), hw, weights_dtype=weights,
                                         kv_cache_dtype="fp8", engine=engine))


def test_registry_holds_the_three_engines_with_vllm_first() -> None:
    assert engine_names()[0] == "vllm"
    assert set(engine_names()) == {"vllm", "sglang", "trtllm",  # + release profiles
                                   "vllm-v0", "vllm-0.6", "sglang-0.3", "trtllm-0.20",
                                   "sglang-deepep",  # + a deployment profile
                                   "optimum-habana",  # + a vendor's benchmark runner
                                   "vllm-amd-mlperf",  # + AMD's MLPerf harness
                                   "jetstream"}  # + Google's TPU engine (named only)


def test_cli_and_scenario_choices_come_from_the_registry() -> None:
    from gputwin.cli.serve_cmd import serve

    opt = next(p for p in serve.params if p.name == "engine")
    assert tuple(opt.type.choices) == engine_names()  # type: ignore[attr-defined]
    for name in engine_names():
        assert ServiceOptions(model="m", gpu="g", engine=name).engine.name == name  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown engine 'tgi'"):
        EngineOptions(name="tgi")


def test_vllm_profile_defaults_follow_vllm_on_each_part() -> None:
    cat = default_catalog()
    small = EngineOptions().resolved()  # part unknown: the profile's own
    assert (small.max_num_seqs, small.max_num_batched_tokens, small.block_size,
            small.gpu_memory_utilization, small.enable_chunked_prefill) == (
                256, 2048, 16, 0.9, True)
    # vLLM's get_batch_defaults: >= 70 GiB as the runtime reports it, not an A100
    for gpu, limits in (("h100-sxm-80gb", (1024, 8192)), ("mi300x", (1024, 8192)),
                        ("a100-sxm-80gb", (256, 2048)), ("l40s", (256, 2048)),
                        ("gaudi3", (256, 2048))):  # plug-in back ends: not its rule
        e = EngineOptions().resolved(accelerator=cat.accelerator(gpu))
        assert (e.max_num_seqs, e.max_num_batched_tokens) == limits, gpu
    given = EngineOptions(max_num_seqs=64).resolved(
        accelerator=cat.accelerator("h100-sxm-80gb"))
    assert (given.max_num_seqs, given.max_num_batched_tokens) == (64, 8192)
    assert ServiceOptions(model="m", gpu="g", weights_dtype="fp8").kv_dtype() == "bf16"


def test_trtllm_defaults_follow_its_profile() -> None:
    s = ServiceOptions(model="m", gpu="g", weights_dtype="fp8", engine="trtllm")  # type: ignore[arg-type]
    e = s.engine.resolved()
    assert (e.max_num_seqs, e.enable_chunked_prefill, e.block_size) == (2048, False, 32)
    assert s.kv_dtype() == "fp8"  # ModelOpt FP8 checkpoints carry FP8 KV
    # weights dequantised to BF16 (gpt-oss's MXFP4 on Hopper): no KV scales, BF16 KV
    assert s.kv_dtype(weight_only=True) == "bf16"
    bf16 = ServiceOptions(model="m", gpu="g", engine="trtllm")  # type: ignore[arg-type]
    assert bf16.kv_dtype() == "bf16"
    explicit = ServiceOptions(model="m", gpu="g", engine={"name": "trtllm", "max_num_seqs": 64})  # type: ignore[arg-type]
    assert explicit.engine.resolved().max_num_seqs == 64


def test_padding_goes_up_to_the_next_captured_size() -> None:
    t = engine_profile("trtllm")
    assert [t.padded_batch(n) for n in (1, 3, 100, 384, 385, 9000)] == [1, 4, 128, 384, 512, 9000]
    assert engine_profile("vllm").padded_batch(100) == 100  # padding off for the default


def test_graphs_are_captured_only_up_to_the_largest_decode_batch() -> None:
    """Sizes above the cap are dropped and the cap itself becomes the padding target
    (TensorRT-LLM pads a batch of 534 to a max batch of 640, not to the 1024 graph)."""
    t = engine_profile("trtllm")
    assert t.graph_batch_sizes(640)[-3:] == (384, 512, 640)
    assert [t.padded_batch(n, cap=640) for n in (534, 640, 100)] == [640, 640, 128]
    assert t.padded_batch(534) == 1024  # no cap: the whole captured list
    assert t.graph_batch_sizes(10_000) == t.cuda_graph_batch_sizes  # cap above the list


def test_a_max_batch_below_the_graphs_caps_the_padding() -> None:
    """A replica limited to 600 sequences pads a decode batch of 534 to 600 (its cap),
    not to the 1024 graph it never captures."""
    from gputwin.run.serving_build import build_service

    cat = default_catalog()
    opts = ServiceOptions(model="llama3.1-8b", gpu="h100-sxm-80gb",  # type: ignore[arg-type]
                          engine={"name": "trtllm", "max_num_seqs": 600})
    step = build_service(opts, cat)[0].pool.model
    assert isinstance(step, GraphPaddedStep)
    base = step._base  # the unpadded step model of the same replica
    ctx = 534 * 300.0
    assert step.step_time_s(0, 0.0, 0.0, 534, ctx) == base.step_time_s(0, 0.0, 0.0, 600, ctx)
    assert step.step_time_s(0, 0.0, 0.0, 534, ctx) < base.step_time_s(0, 0.0, 0.0, 1024, ctx)


def test_padded_step_prices_decode_at_the_padded_batch_only() -> None:
    perf = _perf("trtllm")
    step = GraphPaddedStep(perf, engine_profile("trtllm"))
    ctx = 100 * 500.0
    assert step.step_time_s(0, 0.0, 0.0, 100, ctx) == perf.step_time_s(0, 0.0, 0.0, 128, ctx)
    assert step.step_time_s(0, 0.0, 0.0, 100, ctx) > perf.step_time_s(0, 0.0, 0.0, 100, ctx)
    mixed = (256, 0.0, 256 * 128.0, 100, ctx)
    assert step.step_time_s(*mixed) == perf.step_time_s(*mixed)


def test_engines_differ_in_host_and_kernel_coefficients() -> None:
    ctx = 64 * 1000.0
    v, t = _perf("vllm"), _perf("trtllm")
    assert t.step_time_s(0, 0.0, 0.0, 64, ctx) < v.step_time_s(0, 0.0, 0.0, 64, ctx)
    with pytest.raises(InputError, match="engine"):
        _perf("nope")


def test_free_memory_mode_sizes_the_pool_after_the_weights() -> None:
    perf = _perf("trtllm")
    # the memory modes alone: vLLM's mode with TensorRT-LLM's reserve (no profiling rule)
    total = kv_pool_blocks(perf.memory, dataclasses.replace(engine_profile("vllm"),
                                                            profiling=None), 32, 0.9)
    free = kv_pool_blocks(perf.memory, engine_profile("trtllm"), 32, 0.9)
    left = perf.memory.free_kv_bytes_per_gpu(1.0)
    assert free == int(0.9 * left // (32 * perf.kv_bytes_per_token_per_gpu))
    assert free > total  # 0.9 of what is left > 0.9 of all minus the weights



def test_loader_reads_the_bundled_file_and_refuses_a_figure_without_source(
        tmp_path: Path) -> None:
    default, profiles = load_engine_profiles()
    assert default == "vllm" and all(p.sources for p in profiles.values())

    def drop(d):  # type: ignore[no-untyped-def]
        del d["engines"]["sglang"]["host"]["step_overhead_s"]["source"]
    with pytest.raises(InputError, match=r"sglang\.host\.step_overhead_s") as exc:
        load_engine_profiles(write_engines_yaml(tmp_path, drop))
    assert "engines.yaml:" in str(exc.value)


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("kv", "cache", "tree", "expected one of paged, radix"),
    ("scheduling", "max_num_seqs", 0, "invalid value 0"),
    ("scheduling", "cuda_graph_batch_sizes", [8, 4], "invalid value"),
    ("kernels", "gemm_eff_mult", {"fp9": 1.0}, "invalid value"),
    ("scheduling", "limits_scope", "node", "expected one of replica, dp_rank"),
])
def test_loader_refuses_bad_values(tmp_path: Path, section: str, key: str, value: object,
                                   message: str) -> None:
    def bad(d):  # type: ignore[no-untyped-def]
        d["engines"]["trtllm"][section][key]["value"] = value
    with pytest.raises(InputError, match=message):
        load_engine_profiles(write_engines_yaml(tmp_path, bad))


def test_loader_refuses_unknown_keys_and_a_bad_default(tmp_path: Path) -> None:
    def extra(d):  # type: ignore[no-untyped-def]
        d["engines"]["vllm"]["host"]["warp_speed"] = {"value": 1, "source": "made up here"}
    with pytest.raises(InputError, match="unknown \\['warp_speed'\\]"):
        load_engine_profiles(write_engines_yaml(tmp_path, extra))

    def default(d):  # type: ignore[no-untyped-def]
        d["default"] = "tgi"
    with pytest.raises(InputError, match="default must name an engine"):
        load_engine_profiles(write_engines_yaml(tmp_path, default))


def test_scenario_file_names_the_engine_and_a_bad_one_points_at_its_line(
        tmp_path: Path) -> None:
    from gputwin.scenario.serving import load_serving_scenario

    text = ("serving:\n  services:\n    - model: llama3.1-8b\n      gpu: h100-sxm-80gb\n"
            "      engine: {ENGINE}\n  workload:\n    - kind: synthetic\n"
            "      num_requests: 10\n      arrival: {process: poisson, rate: 1}\n")
    good = tmp_path / "good.yaml"
    good.write_text(text.replace("{ENGINE}", "trtllm"))
    sc = load_serving_scenario(good)
    assert sc.serving.services[0].engine.resolved().profile.name == "trtllm"
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("{ENGINE}", "{name: tgi}"))
    with pytest.raises(InputError, match="unknown engine 'tgi'") as exc:
        load_serving_scenario(bad)
    assert f"{bad}:5" in str(exc.value)


def _dep_perf(engine: str, dp: int):
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="b200", system=None)
    return prepare_serving(ServingConfig(cat.model("deepseek-r1"), hw, ep=4, dp_attention=dp,
                                         weights_dtype="fp4", kv_cache_dtype="fp8",
                                         engine=engine))


def test_each_attention_dp_group_has_its_own_kv_pool() -> None:
    # a DEP4 replica holds four pools, one per attention group: the pool per GPU is the
    # same as a DEP1 split's would be, and the replica's blocks are four times that
    perf = _dep_perf("trtllm", 4)
    profile = engine_profile("trtllm")
    per_gpu = perf.memory.free_kv_bytes_per_gpu(1.0) * profile.memory_frac
    one_pool = int(per_gpu // (32 * perf.kv_bytes_per_token_per_gpu))
    assert one_pool > 0
    assert kv_pool_blocks(perf.memory, profile, 32, profile.memory_frac) == 4 * one_pool
    assert perf.memory.num_kv_blocks(32, 0.9) % 4 == 0


def test_trtllm_batch_limits_count_each_attention_dp_rank() -> None:
    trt = EngineOptions(name="trtllm")
    assert trt.resolved(4).max_num_seqs == 4 * trt.resolved(1).max_num_seqs
    assert trt.resolved(4).max_num_batched_tokens == 4 * trt.resolved(1).max_num_batched_tokens
    given = EngineOptions(name="trtllm", max_num_seqs=512)
    assert given.resolved(8).max_num_seqs == 4096  # a given limit is per rank too
    vllm = EngineOptions(name="vllm")
    assert vllm.resolved(4).max_num_seqs == vllm.resolved(1).max_num_seqs  # the replica's


@pytest.mark.parametrize(("engine", "gpu", "runs"), [
    ("trtllm", "h100-sxm-80gb", True), ("trtllm", "mi300x", False),
    ("sglang", "mi300x", True), ("sglang", "tpu-v6e", False),
    ("vllm", "tpu-v6e", True), ("vllm", "inferentia2", True), ("vllm", "gaudi3", True),
])
def test_an_engine_runs_only_on_the_vendors_it_supports(engine: str, gpu: str,
                                                        runs: bool) -> None:
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu=gpu, system=None)
    cfg = ServingConfig(cat.model("llama3.1-8b"), hw, weights_dtype="bf16",
                        kv_cache_dtype="bf16", engine=engine)
    if runs:
        prepare_serving(cfg)
        return
    with pytest.raises(InputError, match=f"runs on .*{gpu} is {hw.accelerator.vendor}") as exc:
        prepare_serving(cfg)
    assert exc.value.where == "--engine"


def test_loader_needs_the_vendors_an_engine_runs_on(tmp_path: Path) -> None:
    def drop(d):  # type: ignore[no-untyped-def]
        del d["engines"]["trtllm"]["runs_on"]
    with pytest.raises(InputError, match=r"trtllm\.runs_on"):
        load_engine_profiles(write_engines_yaml(tmp_path, drop))

    def empty(d):  # type: ignore[no-untyped-def]
        d["engines"]["vllm"]["runs_on"]["value"] = []
    with pytest.raises(InputError, match="non-empty list"):
        load_engine_profiles(write_engines_yaml(tmp_path, empty))


def test_weight_only_gemms_take_their_own_multiplier() -> None:
    t = engine_profile("trtllm")
    assert t.gemm_mult("bf16", weight_only=True) == t.gemm_eff_mult["weight_only"]
    assert t.gemm_mult("bf16") == t.gemm_eff_mult["bf16"]
    assert t.gemm_mult("mxfp4") == t.gemm_eff_mult["fp4"]
    assert engine_profile("vllm").gemm_mult("bf16", weight_only=True) == 1.0


def test_trtllm_serves_gpt_oss_on_hopper_with_bf16_kv_and_fp8_kv_on_blackwell() -> None:
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.serving_rates import runs_weight_only

    cat = default_catalog()
    s = ServiceOptions(model="gpt-oss-20b", gpu="h100-sxm-80gb", weights_dtype="fp4",  # type: ignore[arg-type]
                       engine="trtllm")
    assert s.kv_dtype(runs_weight_only(cat.accelerator("h100-sxm-80gb"), "fp4")) == "bf16"
    assert s.kv_dtype(runs_weight_only(cat.accelerator("b200"), "fp4")) == "fp8"


def test_simulated_trtllm_replica_sizes_its_kv_pool_in_the_default_kv_dtype() -> None:
    from gputwin.run.validate_serve import simulate_case

    def blocks(gpu: str, kv: str | None) -> float:
        extra = {"kv_cache": kv} if kv else {}
        m = simulate_case(model="gpt-oss-20b", gpu=gpu, weights="fp4", engine="trtllm",
                          offline={"num_requests": 4, "input_tokens": 64,
                                   "output_tokens": 4}, **extra)
        return m.metrics["num_kv_blocks_per_replica"]

    assert blocks("h100-sxm-80gb", None) == blocks("h100-sxm-80gb", "bf16")
    assert blocks("h100-sxm-80gb", "fp8") > blocks("h100-sxm-80gb", None)
    assert blocks("b200", None) == blocks("b200", "fp8")


@pytest.mark.parametrize(("model", "engine", "frac", "words"), [
    # was: "leaves no memory for the KV cache (-18.0 GiB per GPU after weights ...)"
    ("llama3.1-8b", "vllm", 0.01,
     ["need 16.6 GiB per GPU (weights 15.0 GiB), but a GPU memory utilisation of 0.01 "
      "leaves 810.9 MiB of its 79.2 GiB", "or a higher gpu_memory_utilization"]),
    ("llama3-70b", "trtllm", 0.9,
     ["need 136.6 GiB per GPU (weights 131.4 GiB), but the GPU has 79.2 GiB; use more GPUs"]),
])
def test_no_kv_room_is_said_plainly(model: str, engine: str, frac: float,
                                    words: list[str]) -> None:
    from gputwin.perf.engines import kv_room_problem

    perf = _perf(engine, weights="bf16", model=model)
    text = kv_room_problem(perf.memory, engine_profile(engine), 16, frac)
    assert text is not None and "-" not in text.split("GiB")[0]
    assert all(w in text for w in words), text
    assert kv_room_problem(_perf().memory, engine_profile("vllm"), 16, 0.9) is None


def test_simulate_serve_says_what_the_memory_utilisation_leaves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gputwin.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["simulate", "serve", "--model", "llama3.1-8b", "--gpu-memory-utilization",
              "0.01", "--rate", "1", "--num-requests", "5", "--input-tokens", "100",
              "--output-tokens", "10", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert "a GPU memory utilisation of 0.01 leaves 810.9 MiB of its 79.2 GiB" in err
    assert "-18.0" not in err
