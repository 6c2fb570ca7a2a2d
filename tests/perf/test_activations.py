"""Stored activations tensor by tensor: what each recomputed module frees, block
recomputation, activation offload to the host, and the precision knobs of the state."""

from __future__ import annotations

from dataclasses import replace

import pytest
from perf_builders import flat_train

from gputwin.catalog.loader import Catalog
from gputwin.errors import InputError
from gputwin.perf.activations import (
    activation_bytes_per_token,
    activations_per_microbatch,
    offload_bytes_per_microbatch,
    stored_tensors,
)
from gputwin.perf.calibration import default_calibration
from gputwin.perf.flops import arch_of, layer_shapes
from gputwin.perf.memory import peak_memory, stage_memory
from gputwin.perf.plan import Plan


def _plan(arch, **kw):  # type: ignore[no-untyped-def]
    base = dict(arch=arch, num_gpus=8, tp=1, pp=1, cp=1, ep=1, dp=8, interleave=1,
                sequence_parallel=False, zero_stage=1, micro_batch_size=1, seq_len=4096,
                global_batch_size=8, dtype="bf16", recompute="selective")
    base.update(kw)
    return Plan(**base)


def _moe_shape(arch):  # type: ignore[no-untyped-def]
    return next(s for s, _ in layer_shapes(arch) if s.is_moe)


def test_core_attention_recompute_frees_nothing_with_flash_attention(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("llama3-70b"))
    shape = layer_shapes(arch)[0][0]
    none = activation_bytes_per_token(shape, _plan(arch, recompute="none"))
    assert activation_bytes_per_token(shape, _plan(arch)) == none  # default: core_attn
    assert sum(t.bytes_per_token for t in stored_tensors(shape, _plan(arch))) == none


def test_each_module_frees_its_own_tensors(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("deepseek-v3"))
    shape = _moe_shape(arch)
    h = arch.hidden_size
    full = activation_bytes_per_token(shape, _plan(arch, recompute="none"))

    def saved(*modules: str) -> float:
        return full - activation_bytes_per_token(shape, _plan(arch, recompute_modules=modules))

    # layernorm: the two norm outputs (QKV and MoE inputs), BF16 at TP 1
    assert saved("layernorm") == pytest.approx(2 * 2.0 * h)
    # mla_up_proj: Q and K per head (128 x 192 each) and the kv_up output (128 x 256)
    assert saved("mla_up_proj") == pytest.approx(2.0 * (2 * 128 * 192 + 128 * 256))
    # moe_act: the routed experts' SwiGLU output, top-8 copies of 2048
    assert saved("moe_act") == pytest.approx(2.0 * 8 * 2048)
    # moe frees the experts' tensors and the shared expert's; more than moe_act alone
    assert saved("moe") > saved("moe_act") + saved("shared_experts") - 1e-9
    assert saved("mlp") == 0.0  # no dense MLP in a MoE layer
    assert saved("layernorm", "mla_up_proj") == pytest.approx(
        saved("layernorm") + saved("mla_up_proj"))


def test_dense_mlp_recompute_keeps_only_the_norm_input(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("llama3-70b"))
    shape = layer_shapes(arch)[0][0]
    h, f = arch.hidden_size, arch.ffn_hidden_size
    none = activation_bytes_per_token(shape, _plan(arch, recompute="none"))
    mlp = activation_bytes_per_token(shape, _plan(arch, recompute_modules=("mlp",)))
    # frees the norm output (fused into fc1), gate+up output (2f) and the SwiGLU output (f)
    assert none - mlp == pytest.approx(2.0 * h + 2.0 * 2 * f + 2.0 * f)


def test_recomputed_modules_cost_backward_time() -> None:
    base = dict(model="deepseek-v3", gpu="b200", num_gpus=256, pp=16, ep=8,
                global_batch_size=2048, seq_len=4096, dtype="fp8", check_memory=False)
    none = flat_train(**base, recompute="none")
    up = flat_train(**base, recompute_modules=["mla_up_proj"])
    both = flat_train(**base, recompute_modules=["mla_up_proj", "moe"])
    assert none.step_time_s < up.step_time_s < both.step_time_s
    assert none.memory.activations_bytes > up.memory.activations_bytes > (
        both.memory.activations_bytes)
    assert up.hfu > none.hfu  # the recomputed GEMMs count as hardware FLOPs


def test_block_recompute_sits_between_none_and_full(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("llama3-70b"))
    layers = 10.0
    none = activations_per_microbatch(_plan(arch, recompute="none"), layers)
    full = activations_per_microbatch(_plan(arch, recompute="full"), layers)
    some = activations_per_microbatch(_plan(arch, recompute="full", recompute_num_layers=4),
                                      layers)
    assert some == pytest.approx(0.4 * full + 0.6 * none)
    capped = _plan(arch, recompute="full", recompute_num_layers=40)
    assert activations_per_microbatch(capped, layers) == pytest.approx(full)
    job = dict(model="llama3-70b", gpu="h100-sxm-80gb", num_gpus=64, tp=8, pp=4,
               global_batch_size=64, seq_len=8192, sequence_parallel=True,
               check_memory=False)
    t = [flat_train(**job, recompute="none").step_time_s,
         flat_train(**job, recompute="full", recompute_num_layers=5).step_time_s,
         flat_train(**job, recompute="full").step_time_s]
    assert t == sorted(t) and t[0] < t[2]


def test_offloaded_layers_leave_the_gpu_but_one(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("llama3-70b"))
    plan = _plan(arch, recompute="none", zero_stage=3)
    off = replace(plan, offload_activation_layers=40)
    per_layer = activations_per_microbatch(plan, 1.0)
    assert activations_per_microbatch(plan, 80.0) - activations_per_microbatch(off, 80.0) == (
        pytest.approx(39 * per_layer))
    assert offload_bytes_per_microbatch(off) == pytest.approx(40 * per_layer)
    c = default_calibration()
    assert peak_memory(off, c).activations_bytes < peak_memory(plan, c).activations_bytes
    assert peak_memory(off, c).host_activations_bytes == pytest.approx(39 * per_layer)


def test_offload_copies_hide_on_grace_and_show_over_pcie() -> None:
    job = dict(model="llama3-70b", num_gpus=64, zero_stage=3, global_batch_size=128,
               micro_batch_size=2, seq_len=8192, dtype="fp8", recompute="none",
               offload_activation_layers=40, check_memory=False)
    grace = flat_train(**job, system="gb200-nvl72")
    assert grace.breakdown["activation_offload_s"] == 0.0  # 150 GB at 168 GB/s < the pass
    pcie = flat_train(**job, system="dgx-b200")  # the calibration's 50 GB/s PCIe link
    assert pcie.breakdown["activation_offload_s"] > 0.0
    assert pcie.memory_per_gpu_bytes == pytest.approx(grace.memory_per_gpu_bytes, rel=0.02)


@pytest.mark.parametrize(("fields", "words"), [
    ({"offload_activation_layers": 10}, "recompute none"),
    ({"offload_activation_layers": 10, "recompute": "none", "pp": 2}, "pp 1"),
    ({"offload_activation_layers": 80, "recompute": "none"}, "below the model's 80"),
    ({"recompute_modules": ["moe_act"], "recompute": "full"}, "recompute selective"),
    ({"recompute_num_layers": 4}, "recompute full"),
])
def test_memory_saving_rules(fields: dict[str, object], words: str) -> None:
    job = dict(model="llama3-70b", gpu="b200", num_gpus=64, zero_stage=3,
               global_batch_size=64, seq_len=8192, check_memory=False)
    with pytest.raises(InputError, match=words):
        flat_train(**{**job, **fields})


def test_state_precision_knobs(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("llama3-8b"))
    c = default_calibration()
    base = peak_memory(_plan(arch), c)
    fp32 = peak_memory(_plan(arch, main_grads_fp32=True), c)
    assert fp32.gradients_bytes == pytest.approx(2 * base.gradients_bytes)
    moments = peak_memory(_plan(arch, adam_moments_bf16=True), c)
    assert moments.optimizer_bytes == pytest.approx(base.optimizer_bytes * 8 / 12)
    fused = peak_memory(_plan(arch, fused_cross_entropy=True), c)
    logits = 4096 * arch.vocab_size  # one micro-batch's logits, last (only) stage
    assert base.activations_bytes - fused.activations_bytes == pytest.approx(4.0 * logits)


def test_fp32_gradients_double_the_reduce_traffic() -> None:
    job = dict(model="llama3-8b", gpu="h100-sxm-80gb", num_gpus=64, global_batch_size=64,
               seq_len=8192, check_memory=False)
    bf16 = flat_train(**job).to_dict()["dp_comm_total_s"]
    fp32 = flat_train(**job, main_grads_fp32=True).to_dict()["dp_comm_total_s"]
    assert 1.3 * bf16 < fp32 < 2.0 * bf16  # reduce-scatter doubles, the gather does not


def test_fp8_keeps_quantised_gemm_inputs(catalog: Catalog) -> None:
    """In FP8 each GEMM keeps its own 1-byte input: the norm outputs, the experts' routed
    copies and the output projection's copy of the attention output, which flash attention
    keeps in BF16 as well."""
    arch = arch_of(catalog.model("deepseek-v3"))
    shape = _moe_shape(arch)
    h, v = arch.hidden_size, shape.v_dim

    def kept(dtype: str) -> dict[str, float]:
        plan = _plan(arch, dtype=dtype, recompute="none")
        return {t.name: t.bytes_per_token for t in stored_tensors(shape, plan)}

    bf16, fp8 = kept("bf16"), kept("fp8")
    assert fp8["expert_permuted_input"] == pytest.approx(bf16["expert_permuted_input"] / 2)
    assert fp8["expert_permuted_input"] == pytest.approx(8 * 1.0 * h)  # top-8, 1 B each
    assert fp8["attn_output"] == bf16["attn_output"] == pytest.approx(2.0 * v)
    assert fp8["attn_proj_input"] == pytest.approx(1.0 * v)
    assert "attn_proj_input" not in bf16  # in BF16 the projection keeps the same tensor
    assert fp8["qkv"] == bf16["qkv"]  # flash attention's inputs stay in BF16


def test_offloaded_module_inputs_leave_the_gpu_but_the_chunk_copying_out(
        catalog: Catalog) -> None:
    arch = arch_of(catalog.model("deepseek-v3"))
    shape = _moe_shape(arch)
    plan = _plan(arch, recompute="none", pp=4, interleave=1, num_gpus=256, dp=64, ep=8,
                 global_batch_size=256)
    off = replace(plan, offload_modules=("expert_fc1", "moe_act"))
    tensors = {t.name: t.bytes_per_token for t in stored_tensors(shape, plan)}
    moved = tensors["expert_permuted_input"] + tensors["expert_fc1_output"]
    chunk = float(plan.layers_per_stage)
    on_gpu = activations_per_microbatch(plan, chunk) - activations_per_microbatch(off, chunk)
    moe_share = sum(n for s, n in layer_shapes(arch) if s.is_moe) / arch.num_layers
    assert on_gpu == pytest.approx(4096 * chunk * moe_share * moved)
    c = default_calibration()
    first = float(plan.stage_layer_counts[0])
    per_mb = activations_per_microbatch(plan, first) - activations_per_microbatch(off, first)
    full = stage_memory(plan, c, first=True, last=False)
    lean = stage_memory(off, c, first=True, last=False)
    # the first rank holds 4 micro-batches; one chunk's inputs are still on the GPU
    assert full.activations_bytes - lean.activations_bytes == pytest.approx(3 * per_mb)
    assert offload_bytes_per_microbatch(off) == pytest.approx(on_gpu)
    assert lean.host_activations_bytes == pytest.approx(3 * per_mb)  # what left the GPU
    assert full.host_activations_bytes == 0.0


def test_module_offload_runs_with_pipelines_and_is_timed() -> None:
    job = dict(model="deepseek-v3", num_gpus=256, pp=4, interleave=4, ep=64,
               global_batch_size=2048, seq_len=4096, dtype="fp8",
               recompute_modules=["mla_up_proj"], check_memory=False)
    grace = flat_train(**job, system="gb200-nvl72", offload_modules=["expert_fc1"])
    plain = flat_train(**job, system="gb200-nvl72")
    assert grace.memory_per_gpu_bytes < plain.memory_per_gpu_bytes
    assert grace.breakdown["activation_offload_s"] == 0.0  # hidden behind the passes
    pcie = flat_train(**job, system="dgx-b200",
                      offload_modules=["attn_norm", "qkv_linear", "core_attn", "attn_proj",
                                       "mlp_norm", "expert_fc1", "moe_act"])
    assert pcie.breakdown["activation_offload_s"] > 0.0
    with pytest.raises(InputError, match="give one"):
        flat_train(**{**job, "recompute": "none", "recompute_modules": None, "pp": 1,
                      "interleave": 1}, system="gb200-nvl72",
                   offload_modules=["moe_act"], offload_activation_layers=10)
