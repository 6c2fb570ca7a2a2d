"""The activations one transformer layer stores for its backward pass, tensor by tensor.

Bytes per token of one layer on one rank, after Korthikanti et al. 2022 (arXiv:2205.05198)
with flash attention (no ``s²`` terms): the two norm inputs (the residual stream), the GEMM
inputs (in FP8 each GEMM keeps its quantised input, 1 B, and the attention output is kept
twice: in BF16 by flash attention, in FP8 by the output projection), Q/K/V and the attention
output, the MLP's first-GEMM output and activation output, GELU models' dropout masks, and
for MoE layers the experts' GEMM input, one copy per routed token. Tensors as wide as the
hidden size are split over TP only with sequence parallelism; the others always are.

Megatron-Core's selective recomputation (``recompute_granularity: selective``) checkpoints
the modules named in ``recompute_modules``: a checkpointed module keeps its input and
recomputes what it made in the backward pass, so each tensor here names the modules whose
recomputation frees it. ``core_attn`` frees nothing with flash attention (the kernel keeps
no ``s²`` scores); ``layernorm`` frees the norms' outputs (the QKV and MLP GEMM inputs);
``mla_up_proj`` frees MLA's per-head Q, K and V (kept: the compressed latents); ``mlp``,
``moe`` and ``shared_experts`` free their block's inner tensors; ``moe_act`` the experts'
activation output. ``full`` recomputation keeps only each layer's input, on every layer or
(Megatron-Core's block method, ``recompute_num_layers``) on the first layers of each pipeline
chunk. Layers offloaded to the host (``cpu_offloading_num_layers``) leave the GPU but the one
whose copy back is in flight; fine-grained offload (``offload_modules``) sends the named
modules' inputs of every layer, but those of the chunk still copying out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from gputwin.perf.flops import Arch, LayerShape, layer_shapes, recomputing_modules
from gputwin.perf.plan import Plan


@dataclass(frozen=True, slots=True)
class StoredTensor:
    """One activation a layer keeps for its backward pass: bytes per token on one rank, and
    the ``recompute_modules`` entries whose recomputation frees it."""

    name: str
    bytes_per_token: float
    freed_by: frozenset[str] = frozenset()


def _attention_tensors(shape: LayerShape, a: Arch, tp: int, gemm_in: float,
                       wide: int) -> list[StoredTensor]:
    h = a.hidden_size
    out = [StoredTensor("attn_norm_input", 2.0 * h / wide),
           StoredTensor("qkv_input", gemm_in * h / wide, frozenset({"layernorm"}))]
    if a.attention_kind == "mla":
        # Kept: the compressed latents (inputs of the up-projections, not split over TP).
        # Freed by mla_up_proj: Q and K per head (nope + rope dims) and the kv_up output
        # (K's nope part and V), which flash attention keeps.
        dims = {g.name: g for g in shape.gemms}
        q_latent = dims["q_up"].k if "q_up" in dims else 0
        out.append(StoredTensor("mla_latents", 2.0 * (q_latent + shape.kv_dim)))
        out.append(StoredTensor("qkv", 2.0 * (2 * shape.q_dim + dims["kv_up"].n) / tp,
                                frozenset({"mla_up_proj"})))
    else:
        out.append(StoredTensor("qkv", 2.0 * (shape.q_dim + shape.kv_dim) / tp))
    out.append(StoredTensor("attn_output", 2.0 * shape.v_dim / tp))
    if gemm_in < 2.0:  # FP8: the output projection keeps its own quantised copy of it
        out.append(StoredTensor("attn_proj_input", gemm_in * shape.v_dim / tp))
    return out


def _mlp_tensors(shape: LayerShape, a: Arch, tp: int, gemm_in: float,
                 wide: int) -> list[StoredTensor]:
    h = a.hidden_size
    out = [StoredTensor("mlp_norm_input", 2.0 * h / wide)]
    # A dense MLP's checkpoint holds its norm (fused with the first GEMM); a MoE layer's
    # norm stands apart (the router reads it too), so only ``layernorm`` frees its output.
    mlp_input_freed = {"layernorm"} if shape.is_moe else {"layernorm", "mlp"}
    out.append(StoredTensor("mlp_input", gemm_in * h / wide, frozenset(mlp_input_freed)))
    if a.mlp_kind == "gelu":
        out.append(StoredTensor("dropout_masks", 2.0 * h / wide))
    for g in shape.gemms:
        if not g.name.endswith("_fc1"):
            continue
        share = g.count * g.tokens_frac
        ffn = g.n // 2 if a.mlp_kind == "swiglu" else g.n
        block = recomputing_modules(g.name)
        prefix = g.name.removesuffix("_fc1")
        out.append(StoredTensor(f"{prefix}_fc1_output", share * 2.0 * g.n / tp, block))
        act_freed = block | {"moe_act"} if g.expert else block
        out.append(StoredTensor(f"{prefix}_act_output", share * gemm_in * ffn / tp, act_freed))
        if g.expert:  # the grouped GEMM's input: each routed copy, as the GEMM keeps it
            out.append(StoredTensor("expert_permuted_input", share * gemm_in * h / tp, block))
    return out


def stored_tensors(shape: LayerShape, plan: Plan) -> tuple[StoredTensor, ...]:
    """Every activation one layer of ``shape`` keeps per token on one rank (no recompute)."""
    return _tensors(shape, plan.arch, plan.tp, plan.sp, plan.dtype == "fp8")


@functools.lru_cache(maxsize=1024)
def _tensors(shape: LayerShape, a: Arch, tp: int, sp: bool,
             fp8: bool) -> tuple[StoredTensor, ...]:
    gemm_in = 1.0 if fp8 else 2.0
    wide = tp if sp else 1
    return (*_attention_tensors(shape, a, tp, gemm_in, wide),
            *_mlp_tensors(shape, a, tp, gemm_in, wide))


def _selective_modules(plan: Plan) -> frozenset[str]:
    """The modules ``plan`` checkpoints under selective recomputation (none otherwise)."""
    return frozenset(plan.recompute_modules) if plan.recompute == "selective" else frozenset()


def activation_bytes_per_token(shape: LayerShape, plan: Plan) -> float:
    """Stored activation bytes of one layer for one token on one rank, after the plan's
    selective recomputation (``full`` keeps only :func:`layer_input_bytes_per_token`)."""
    modules = _selective_modules(plan)
    return sum(t.bytes_per_token for t in stored_tensors(shape, plan)
               if not t.freed_by & modules)


def layer_input_bytes_per_token(plan: Plan) -> float:
    """What a fully recomputed layer keeps: its input, split over TP with SP."""
    return 2.0 * plan.arch.hidden_size / (plan.tp if plan.sp else 1)


#: Per-layer sums by (what, architecture identity, tp, sp, fp8, modules); the architecture
#: is kept beside its value, so a reused ``id`` never answers for another one.
_MEMO: dict[tuple[str, int, int, bool, bool, tuple[str, ...]], tuple[Arch, float]] = {}


def _memoised(what: str, plan: Plan, modules: tuple[str, ...],
              compute: Callable[[], float]) -> float:
    """``compute()`` once per architecture and layout shape: the planner asks tens of
    thousands of times per search, and hashing the architecture itself would cost more than
    the sum."""
    a = plan.arch
    key = (what, id(a), plan.tp, plan.sp, plan.dtype == "fp8", modules)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is a:
        return hit[1]
    value = compute()
    if len(_MEMO) >= 4096:
        _MEMO.clear()
    _MEMO[key] = (a, value)
    return value


#: Megatron-Core's fine-grained activation offload: the ``offload_modules`` entry whose
#: input each stored tensor is (the tensors it sends to host memory).
_OFFLOADED_AS_INPUT_OF = {
    "attn_norm_input": "attn_norm", "qkv_input": "qkv_linear", "qkv": "core_attn",
    "attn_output": "attn_proj", "attn_proj_input": "attn_proj", "mlp_norm_input": "mlp_norm",
    "expert_permuted_input": "expert_fc1", "expert_fc1_output": "moe_act",
}


def _mean_split(plan: Plan) -> tuple[float, float]:
    """Per token and layer (mean over layer types), what selective recomputation leaves:
    ``(on the GPU, offloaded to the host by offload_modules)``."""
    a = plan.arch
    modules = plan.recompute_modules if plan.recompute == "selective" else ()
    offload = frozenset(plan.offload_modules)

    def kept(on_host: bool) -> float:
        freed = frozenset(modules)
        return sum(n / a.num_layers * sum(
            t.bytes_per_token for t in stored_tensors(s, plan)
            if not t.freed_by & freed
            and (_OFFLOADED_AS_INPUT_OF.get(t.name) in offload) == on_host)
            for s, n in layer_shapes(a))

    key = (*modules, "|", *plan.offload_modules)
    return (_memoised("gpu", plan, key, lambda: kept(False)),
            _memoised("host", plan, key, lambda: kept(True)))


def _mean_layer_bytes_per_token(plan: Plan) -> float:
    """:func:`activation_bytes_per_token` averaged over the model's layer types (on the GPU
    and on the host together)."""
    a = plan.arch
    modules = plan.recompute_modules if plan.recompute == "selective" else ()
    return _memoised("mean", plan, modules, lambda: sum(
        activation_bytes_per_token(s, plan) * n / a.num_layers for s, n in layer_shapes(a)))


def _input_split(plan: Plan) -> tuple[float, float]:
    """A fully recomputed layer's input: ``(on the GPU, on the host)`` (``attn_norm``
    offloads it)."""
    b = layer_input_bytes_per_token(plan)
    return (0.0, b) if "attn_norm" in plan.offload_modules else (b, 0.0)


def fully_recomputed_layers(plan: Plan, layers: float) -> float:
    """How many of a pipeline chunk's ``layers`` keep only their input: all of them under
    ``full``, or the first ``recompute_num_layers`` (Megatron-Core's block method)."""
    if plan.recompute != "full":
        return 0.0
    return min(layers, float(plan.recompute_num_layers)) if plan.recompute_num_layers else layers


def fully_recomputed_frac(plan: Plan) -> float:
    """The share of the busiest pipeline chunk's layers that full recomputation re-runs."""
    chunk = plan.layers_per_stage / plan.interleave
    return fully_recomputed_layers(plan, chunk) / chunk if chunk else 1.0


def offloaded_layers(plan: Plan) -> float:
    """Layers whose activations wait in host memory at the peak: the offloaded ones but one,
    whose copy back is in flight when the backward pass starts."""
    return float(max(0, plan.offload_activation_layers - 1))


def activations_per_microbatch(plan: Plan, layers: float) -> float:
    """Stored activations of ``layers`` layers (one pipeline chunk) for one micro-batch on
    one rank, on the GPU: fully recomputed layers keep their input, the others what
    selective recomputation leaves, less the layers or the modules' inputs offloaded to the
    host."""
    tokens = plan.tokens_per_microbatch
    recomputed = fully_recomputed_layers(plan, layers)
    kept = max(0.0, layers - recomputed - offloaded_layers(plan))
    gpu = _mean_split(plan)[0] if plan.offload_modules else _mean_layer_bytes_per_token(plan)
    return tokens * (recomputed * _input_split(plan)[0] + kept * gpu)


def host_layer_bytes(plan: Plan) -> float:
    """The whole layers' activations waiting in host memory at the peak (one micro-batch:
    layer offload runs with pp 1)."""
    return plan.tokens_per_microbatch * offloaded_layers(plan) * _mean_layer_bytes_per_token(plan)


def module_offload_bytes(plan: Plan, layers: float) -> float:
    """What ``offload_modules`` sends to the host from ``layers`` layers of one micro-batch
    on one rank (0 without it)."""
    if not plan.offload_modules:
        return 0.0
    recomputed = fully_recomputed_layers(plan, layers)
    return plan.tokens_per_microbatch * (recomputed * _input_split(plan)[1]
                                         + (layers - recomputed) * _mean_split(plan)[1])


def offload_bytes_per_microbatch(plan: Plan) -> float:
    """Activation bytes one micro-batch sends to the host (and fetches back) on one rank of
    the busiest stage: whole layers (``offload_activation_layers``) or the named modules'
    inputs in every layer (``offload_modules``)."""
    return (plan.tokens_per_microbatch * plan.offload_activation_layers
            * _mean_layer_bytes_per_token(plan)
            + module_offload_bytes(plan, float(plan.layers_per_stage)))


def working_set_bytes(plan: Plan) -> float:
    """One layer's full activations, live while a fully recomputed layer runs again."""
    if plan.recompute != "full":
        return 0.0
    largest = _memoised("largest", plan, (), lambda: max(
        sum(t.bytes_per_token for t in stored_tensors(s, plan))
        for s, _ in layer_shapes(plan.arch)))
    return plan.tokens_per_microbatch * largest
