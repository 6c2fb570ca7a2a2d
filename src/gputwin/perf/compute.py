"""Compute time of one micro-batch on one GPU: GEMMs, attention, memory-bound kernels.

Per layer and micro-batch (``T = mbs·seq/cp`` tokens on each TP rank after the
sequence-parallel all-gather):

- GEMM time = FLOP / (peak[dtype] · gemm_max_frac[dtype] · g(M)·g(N)·g(K)) with
  ``g(x) = x/(x + half_dim)`` for small per-rank slices (TP-split dims, tokens per expert),
  or its operand traffic over HBM when that is longer (:mod:`gputwin.perf.gemm`; training
  shapes are compute-bound). FP8 training runs only the GEMMs at the FP8 rate.
- Attention core (flash, causal ≈ half the full score matrix; local-attention layers their
  window plus the kernel's overhead, :mod:`gputwin.perf.attention_work`) at
  ``attention_frac`` of the BF16 peak (times the part's softmax speed-up where the fraction
  is the measured kernel's: :mod:`gputwin.perf.attention_rate`), lower below head dim 128;
  backward does 2.5× the forward work (five matmuls vs two) at ``attention_bwd_rate`` of
  the forward's rate before the speed-up.
- Memory-bound work (norms, residual adds, activation functions, dropout, rotary, FP8
  casts, MoE permutes) = bytes / (HBM bandwidth · memory_bw_frac); without sequence
  parallelism the hidden-size-wide ops are replicated on every TP rank.
- A fixed launch/sync gap per layer per micro-batch.
All of it is divided by the accelerator's ``sustained_frac``. Backward GEMMs cost twice the
forward; recomputation adds a forward (``full``) or the attention core (``selective``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from gputwin.catalog.schema import Accelerator
from gputwin.perf.attention_rate import ATTN_BWD_WORK, training_bwd_rate, training_fwd_rate
from gputwin.perf.attention_work import (
    attention_fwd_flops_per_token,
    head_dim_rate_factor,
    kernel_keys_per_query,
)
from gputwin.perf.calibration import AcceleratorCoefficients, Calibration
from gputwin.perf.flops import (
    DEFAULT_RECOMPUTE_MODULES,
    Arch,
    Gemm,
    LayerShape,
    layer_shapes,
    recomputing_modules,
)
from gputwin.perf.gemm import gemm_time_s
from gputwin.perf.plan import Plan

_ROW_PARALLEL = ("attn_out", "mlp_fc2", "expert_fc2", "shared_fc2")


@dataclass(frozen=True, slots=True)
class LayerTime:
    """Seconds for one layer and one micro-batch on one GPU."""

    gemm_fwd_s: float
    attn_fwd_s: float
    attn_bwd_s: float
    elem_fwd_s: float
    overhead_s: float
    #: Forward seconds of each module selective recomputation can re-run (perf/activations).
    module_fwd_s: tuple[tuple[str, float], ...] = ()

    @property
    def attn_total_s(self) -> float:
        """Attention-core seconds, forward plus backward."""
        return self.attn_fwd_s + self.attn_bwd_s

    @property
    def fwd_s(self) -> float:
        return self.gemm_fwd_s + self.attn_fwd_s + self.elem_fwd_s + self.overhead_s / 3

    def bwd_s(self, recompute: str, modules: tuple[str, ...] = DEFAULT_RECOMPUTE_MODULES,
              full_frac: float = 1.0) -> float:
        """Backward seconds: twice the forward GEMMs, the attention backward, plus what
        recomputation runs again (the forward of ``full_frac`` of the layers under
        ``full``, the checkpointed ``modules`` under ``selective``)."""
        base = (2 * self.gemm_fwd_s + self.attn_bwd_s
                + 2 * self.elem_fwd_s + 2 * self.overhead_s / 3)
        if recompute == "full":
            return base + full_frac * self.fwd_s
        if recompute == "selective":
            return base + sum(t for name, t in self.module_fwd_s if name in modules)
        return base


def _gemm_time(g: Gemm, plan: Plan, tokens: float, rate: float, half: float,
               bandwidth: float, dtype: str) -> float:
    """Forward seconds of one GEMM (all ``count`` copies) on one rank
    (:func:`gputwin.perf.gemm.gemm_time_s`)."""
    tp = plan.tp if g.tp_split else 1
    if g.expert:  # each local expert's GEMM sees the tokens routed to it from the EP group
        copies, m_dim = float(max(1, g.count // plan.ep)), tokens * plan.ep * g.tokens_frac
    else:
        copies, m_dim = g.count * g.tokens_frac, tokens
    n, k = (g.n, g.k / tp) if g.name in _ROW_PARALLEL else (g.n / tp, g.k)
    return gemm_time_s(m_dim, n, k, dtype, rate_flop_per_s=rate, half_dim=half,
                       bandwidth_bytes_per_s=bandwidth, copies=copies)


def _elementwise_bytes_per_token(shape: LayerShape, a: Arch, plan: Plan, c: Calibration) -> float:
    """Forward HBM traffic of memory-bound kernels for one token of one layer, one rank."""
    h = a.hidden_size
    wide = 20.0 * h + (10.0 * h if a.mlp_kind == "gelu" else 0.0)  # norms, residuals, dropout
    wide /= plan.tp if plan.sp else 1
    sliced = 0.0
    for g in shape.gemms:
        if g.name.endswith("fc1"):
            ffn = g.n // 2 if a.mlp_kind == "swiglu" else g.n
            act = (6.0 if a.mlp_kind == "swiglu" else 4.0) * ffn * g.count * g.tokens_frac
            sliced += act
    if a.mlp_kind == "swiglu":  # rotary embedding on Q and K
        sliced += 4.0 * (shape.q_dim + shape.kv_dim / 2)
    if plan.dtype == "fp8":
        gemm_inputs = sum(g.k * g.count * g.tokens_frac for g in shape.gemms if g.tp_split)
        sliced += c.fp8_cast_bytes_per_gemm_input * gemm_inputs
    if shape.is_moe:  # permute + unpermute of top-k copies (read + write, twice)
        sliced += 8.0 * h * max(1, a.num_experts_per_token)
    return wide + sliced / plan.tp


@functools.lru_cache(maxsize=1024)
def _layer_time_cached(shape: LayerShape, plan: Plan, accel_peak: float,
                       attn_rates: tuple[float, float], hbm_bw: float,
                       coeff: AcceleratorCoefficients, c: Calibration) -> LayerTime:
    tokens = float(plan.tokens_per_microbatch)
    half = c.gemm_half_dim
    rate = accel_peak * coeff.gemm_frac(plan.compute_dtype)
    bandwidth = hbm_bw * c.memory_bw_frac
    gemm = 0.0
    modules: dict[str, float] = {}
    for g in shape.gemms:
        t = _gemm_time(g, plan, tokens, rate, half, bandwidth, plan.compute_dtype)
        t *= c.moe_imbalance if g.expert else 1.0
        gemm += t
        for module in recomputing_modules(g.name):
            modules[module] = modules.get(module, 0.0) + t
    a = plan.arch
    keys = kernel_keys_per_query(a, plan.seq_len, c.local_attention_extra_keys)
    attn_flops = attention_fwd_flops_per_token(shape, keys) * tokens / plan.tp
    head = head_dim_rate_factor(shape, a.num_attention_heads, c.attention_softmax_head_dim)
    attn = attn_flops / (attn_rates[0] * head)
    attn_bwd = ATTN_BWD_WORK * attn_flops / (attn_rates[1] * head)
    elem = (_elementwise_bytes_per_token(shape, plan.arch, plan, c) * tokens
            / (hbm_bw * c.memory_bw_frac))
    modules["core_attn"] = attn
    for module, nbytes in _recomputed_elementwise_bytes_per_token(shape, plan).items():
        modules[module] = modules.get(module, 0.0) + (
            nbytes * tokens / (hbm_bw * c.memory_bw_frac))
    s = coeff.sustained_frac
    return LayerTime(gemm / s, attn / s, attn_bwd / s, elem / s, c.layer_overhead_s / s,
                     tuple((name, t / s) for name, t in sorted(modules.items())))


def _recomputed_elementwise_bytes_per_token(shape: LayerShape, plan: Plan) -> dict[str, float]:
    """HBM bytes per token of the memory-bound kernels each ``recompute_modules`` entry runs
    again: the two norms (read and write the hidden state), the MLP activation functions."""
    a = plan.arch
    out = {"layernorm": 8.0 * a.hidden_size / (plan.tp if plan.sp else 1)}
    for g in shape.gemms:
        if not g.name.endswith("_fc1"):
            continue
        ffn = g.n // 2 if a.mlp_kind == "swiglu" else g.n
        act = (6.0 if a.mlp_kind == "swiglu" else 4.0) * ffn * g.count * g.tokens_frac / plan.tp
        owners = recomputing_modules(g.name) | ({"moe_act"} if g.expert else frozenset())
        for module in owners:
            out[module] = out.get(module, 0.0) + act
    return out


def _layer_key(plan: Plan) -> Plan:
    """``plan`` with every field a layer's time does not read set to a constant, so jobs and
    planner candidates that differ only in pipeline depth, data parallelism, batch, ZeRO or
    recomputation share one cached layer time (it reads tp, cp, ep, sp, micro-batch tokens,
    sequence length and dtype)."""
    return replace(plan, num_gpus=0, pp=1, dp=1, interleave=1, zero_stage=0,
                   global_batch_size=0, recompute="", recompute_modules=(),
                   recompute_num_layers=0, offload_activation_layers=0,
                   offload_modules=(),
                   main_grads_fp32=False, adam_moments_bf16=False,
                   fused_cross_entropy=False, balanced_stages=True,
                   deallocate_pipeline_outputs=True, offload_optimizer=False,
                   ep_dispatcher="alltoall", ep_dispatch_fp8=False, moe_a2a_overlap=False,
                   pipeline_schedule="1f1b")


def layer_times(plan: Plan, accel: Accelerator, coeff: AcceleratorCoefficients,
                c: Calibration) -> tuple[tuple[LayerTime, float], ...]:
    """``((time, share_of_layers), ...)`` per layer type (dense, MoE)."""
    peak = accel.peak_for(plan.compute_dtype)
    attn_rates = (training_fwd_rate(accel, coeff, plan.act_dtype),
                  training_bwd_rate(accel, coeff, plan.act_dtype))
    total = plan.arch.num_layers
    key = _layer_key(plan)
    return tuple(
        (_layer_time_cached(shape, key, peak, attn_rates, accel.memory_bandwidth_bytes_per_s,
                            coeff, c), n / total)
        for shape, n in layer_shapes(plan.arch)
    )


def logits_time_s(plan: Plan, accel: Accelerator, coeff: AcceleratorCoefficients,
                  c: Calibration) -> float:
    """Forward + backward seconds of the output layer and loss for one micro-batch."""
    a = plan.arch
    tokens = float(plan.tokens_per_microbatch)
    gemm = Gemm("logits", a.vocab_size, a.hidden_size)
    rate = accel.peak_for(plan.act_dtype) * coeff.gemm_frac(plan.act_dtype)
    fwd = _gemm_time(gemm, plan, tokens, rate, c.gemm_half_dim,
                     accel.memory_bandwidth_bytes_per_s * c.memory_bw_frac, plan.act_dtype)
    # cross-entropy in fp32 over the vocab slice: read logits, write/read softmax, grads
    ce_bytes = 14.0 * tokens * a.vocab_size / plan.tp
    ce = ce_bytes / (accel.memory_bandwidth_bytes_per_s * c.memory_bw_frac)
    return (3.0 * fwd + ce) / coeff.sustained_frac


def optimizer_time_s(local_params: float, accel: Accelerator, c: Calibration, *,
                     offload: bool = False, host_link_bytes_per_s: float | None = None) -> float:
    """Seconds of the (sharded) Adam step over ``local_params`` parameters.

    ``offload``: the host runs it — BF16 gradients down and BF16 weights back over the host
    link (4 B/param at ``host_link_bytes_per_s``, default the calibration's PCIe figure),
    the fp32 state (``optimizer_bytes_per_param``) in host memory.
    """
    if offload:
        link = host_link_bytes_per_s or c.host_link_bytes_per_s_per_gpu
        return local_params * (4.0 / link
                               + c.optimizer_bytes_per_param
                               / c.host_memory_bytes_per_s_per_gpu)
    return (local_params * c.optimizer_bytes_per_param
            / (accel.memory_bandwidth_bytes_per_s * c.memory_bw_frac))
