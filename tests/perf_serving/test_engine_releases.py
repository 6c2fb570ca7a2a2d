"""Release profiles (vllm-v0, vllm-0.6, sglang-0.3, trtllm-0.20): selection, unchanged defaults, and
that each differs from its base profile only in the figures fitted for that release and
in documented behaviour the release lacked (vLLM V0 had no hybrid KV pool)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from perf_serving_builders import write_engines_yaml

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.engines import (
    default_engine,
    engine_names,
    engine_profile,
    load_engine_profiles,
)
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.perf.serving_calib import default_serving_calibration
from gputwin.scenario.serving_service import ServiceOptions
from gputwin.topology.hardware import resolve_hardware

#: release profile -> (base, the figures fitted for the release)
RELEASES = {
    "vllm-v0": ("vllm", {"step_overhead_s", "per_seq_overhead_s"}),
    "vllm-0.6": ("vllm", {"step_overhead_s", "eager_layer_s"}),
    "sglang-0.3": ("sglang", {"per_seq_overhead_s", "eager_layer_s"}),
    "trtllm-0.20": ("trtllm", {"overlapped_per_seq_s"}),
}
_META = {"name", "title", "sources", "base"}
#: release profile -> behaviour it lacked (not fitted; its source cites the release)
BEHAVIOUR = {"vllm-v0": {"local_layer_kv"}}
#: the vllm base's figures fitted on V1 rows that a vLLM release drops: its NVIDIA step
#: time (replaced by the release's own step time), the API-server latency (0 in the
#: releases: their fits carried it), V1's memory-profiling rule (fitted on vLLM 0.19
#: logs; the releases keep the calibration's rule their rows were checked with) and V1's
#: batch defaults by part (the releases keep the 8,192-token budget their rows ran)
V1_HOST = {"vendor_step_overhead_s", "frontend_latency_s", "profiling", "large_gpu_limits",
           "max_num_batched_tokens", "tpu_token_budgets"}
VLLM_RELEASES = {"vllm-v0", "vllm-0.6"}


def _differences(a: object, b: object) -> set[str]:
    return {f.name for f in dataclasses.fields(a)  # type: ignore[arg-type]
            if f.name not in _META and getattr(a, f.name) != getattr(b, f.name)}


def test_release_profiles_are_registered_and_selectable() -> None:
    from gputwin.cli.estimate_serve import serve as estimate_serve
    from gputwin.cli.serve_cmd import serve

    for name in RELEASES:
        assert name in engine_names()
        assert ServiceOptions(model="m", gpu="g", engine=name).engine.name == name  # type: ignore[arg-type]
        for cmd in (serve, estimate_serve):
            opt = next(p for p in cmd.params if p.name == "engine")
            assert name in opt.type.choices  # type: ignore[attr-defined]
    assert engine_names()[:3] == ("vllm", "sglang", "trtllm")


def test_defaults_are_unchanged() -> None:
    assert default_engine() == "vllm"
    v, s, t = (engine_profile(n) for n in ("vllm", "sglang", "trtllm"))
    assert (v.step_overhead_s, v.per_seq_overhead_s) == (0.0035, 0.00002)
    assert (s.step_overhead_s, s.per_seq_overhead_s) == (0.0014, 0.000004)
    assert (t.step_overhead_s, t.per_seq_overhead_s) == (0.0005, 0.000001)
    assert all(p.overlapped_per_seq_s == 0.0 and p.base is None for p in (v, s, t))
    cal = default_serving_calibration()
    assert cal.host_overheads("vllm") == (0.0035, 0.00002)
    # vLLM V1's CUDA back end has its own step time (fitted on vLLM 0.8.5 rows)
    assert cal.host_overheads("vllm", "nvidia") == (0.00075, 0.00002)
    assert cal.host_overheads("vllm", "amd") == (0.0035, 0.00002)
    assert (v.frontend_latency_s, s.frontend_latency_s, t.frontend_latency_s) == (0.004, 0, 0)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_a_release_differs_from_its_base_only_in_its_fitted_figures(name: str) -> None:
    base, fitted = RELEASES[name]
    p, b = engine_profile(name), engine_profile(base)
    assert p.base == base
    behaviour = BEHAVIOUR.get(name, set())
    v1_host = V1_HOST if name in VLLM_RELEASES else set()
    assert _differences(p, b) == fitted | behaviour | v1_host
    for key in fitted:
        assert "FITTED" in p.sources[key]
    for key in behaviour:
        assert "V0" in p.sources[key] and p.sources[key] != b.sources[key]
    if v1_host:
        assert p.vendor_step_overhead_s == {} and p.frontend_latency_s == 0.0
        assert p.profiling is None and b.profiling is not None
        assert p.large_gpu_limits is None and p.max_num_batched_tokens == 8192
        assert p.tpu_token_budgets == () and b.tpu_token_budgets
        assert "fitted without a frontend term" in p.sources["frontend_latency_s"]
    for key in set(p.sources) - fitted - behaviour - v1_host:  # the rest is the base's
        assert p.sources[key] == b.sources[key]
    assert default_serving_calibration().host_overheads(name) == (
        p.step_overhead_s, p.per_seq_overhead_s)


def _perf(engine: str, tp: int):  # type: ignore[no-untyped-def]
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="b200", system=None)
    return prepare_serving(ServingConfig(cat.model("llama3.3-70b"), hw, tp=tp,
                                         weights_dtype="fp4", kv_cache_dtype="fp8",
                                         engine=engine))


def test_overlapped_host_time_is_a_floor_under_the_step() -> None:
    """trtllm-0.20: a step lasts the larger of the device step (with the series host
    time) and the host time that overlaps it (step time + 25 us per sequence)."""
    prof = engine_profile("trtllm-0.20")
    for tp in (1, 8):
        old, new = _perf("trtllm", tp), _perf("trtllm-0.20", tp)
        for n in (1, 64, 2048):
            ctx = n * 200.0
            base = old.step_time_s(0, 0.0, 0.0, n, ctx)
            floor = prof.step_overhead_s + prof.overlapped_per_seq_s * n
            assert new.step_time_s(0, 0.0, 0.0, n, ctx) == pytest.approx(max(base, floor))
    # small per-GPU work (TP8) and many sequences: the host binds; one sequence: the device
    tp8_old, tp8_new = _perf("trtllm", 8), _perf("trtllm-0.20", 8)
    assert tp8_new.step_time_s(0, 0.0, 0.0, 2048, 2048 * 200.0) > \
        tp8_old.step_time_s(0, 0.0, 0.0, 2048, 2048 * 200.0)
    assert tp8_new.step_time_s(0, 0.0, 0.0, 1, 200.0) == tp8_old.step_time_s(0, 0.0, 0.0, 1, 200.0)



def test_loader_refuses_a_base_that_is_missing_or_itself_derived(tmp_path: Path) -> None:
    def missing(d):  # type: ignore[no-untyped-def]
        d["engines"]["sglang-0.3"]["base"] = "tgi"
    with pytest.raises(InputError, match=r"base must name .*'tgi'") as exc:
        load_engine_profiles(write_engines_yaml(tmp_path, missing))
    assert "sglang-0.3.base" in str(exc.value)

    def chained(d):  # type: ignore[no-untyped-def]
        d["engines"]["sglang-0.3"]["base"] = "vllm-v0"
    with pytest.raises(InputError, match="without a base of its own"):
        load_engine_profiles(write_engines_yaml(tmp_path, chained))


def test_a_release_override_is_checked_like_any_figure(tmp_path: Path) -> None:
    def unsourced(d):  # type: ignore[no-untyped-def]
        del d["engines"]["trtllm-0.20"]["host"]["overlapped_per_seq_s"]["source"]
    with pytest.raises(InputError, match=r"trtllm-0\.20\.host\.overlapped_per_seq_s"):
        load_engine_profiles(write_engines_yaml(tmp_path, unsourced))

    def unknown(d):  # type: ignore[no-untyped-def]
        d["engines"]["vllm-v0"]["host"]["warp_speed"] = {"value": 1, "source": "made up here"}
    with pytest.raises(InputError, match="unknown \\['warp_speed'\\]"):
        load_engine_profiles(write_engines_yaml(tmp_path, unknown))


def test_vllm_takes_its_tpu_token_budget_by_chip() -> None:
    """vLLM's get_batch_defaults on TPU: the OpenAI server's budget by chip (v6e 1,024,
    v5e 512, v5p 256), the sequences capped by it; chips outside its table (Ironwood) and
    JetStream keep their own."""
    cat = default_catalog()
    vllm = engine_profile("vllm")
    assert [vllm.limits_for(cat.accelerator(n)) for n in ("tpu-v6e", "tpu-v5e", "tpu-v5p")] == [
        (256, 1024), (256, 512), (256, 256)]
    assert vllm.limits_for(cat.accelerator("tpu-v7")) == (256, 2048)
    assert all(cat.accelerator(name) for name, _ in vllm.tpu_token_budgets)  # catalog parts
    assert engine_profile("jetstream").limits_for(cat.accelerator("tpu-v6e")) == (256, 8192)


def test_a_bad_tpu_budget_is_named(tmp_path: Path) -> None:
    def mutate(data: dict) -> None:  # type: ignore[type-arg]
        data["engines"]["vllm"]["scheduling"]["tpu_token_budgets"]["value"] = {"tpu-v6e": 0}

    path = write_engines_yaml(tmp_path, mutate)
    with pytest.raises(InputError, match="tpu_token_budgets"):
        load_engine_profiles(path)
