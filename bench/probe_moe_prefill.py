"""Break a DeepSeek-R1 prefill step on 8xH200 (TP8, FP8) into the step model's parts.

Run: ``python bench/probe_moe_prefill.py``. Prints, for the experts spread over the eight
GPUs (``ep 8``, the suite's convention) and tensor-parallel (``ep 1``, the layout vLLM
0.8.4 and SGLang 0.4.5 ran), the GEMM and attention FLOP per GPU the model counts and the
milliseconds of each part of one prefill step (``docs/serving-simulation.md``,
"Online-serving probe": the first-principles check of the MLA + MoE prefill step).
Nothing here is fitted; it reads the model's own constants.
"""

from __future__ import annotations

import math

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.topology.hardware import resolve_hardware

MODEL, GPU, TP = "deepseek-r1", "h200-sxm-141gb", 8
#: (new tokens, tokens already in the cache) of the steps shown
STEPS = ((8192, 0), (1808, 8192), (1000, 0))


def perf_for(ep: int, engine: str) -> ServingPerf:
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu=GPU, system=None)
    return prepare_serving(ServingConfig(cat.model(MODEL), hw, tp=TP, ep=ep,
                                         weights_dtype="fp8", kv_cache_dtype="bf16",
                                         engine=engine))


def parts_ms(p: ServingPerf, new: int, past: int) -> dict[str, float]:
    """Milliseconds of each part of a prefill-only step, summed over the layers."""
    pairs, kv_tokens = new * (past + new / 2), past + new
    imb = p.comm.imbalance(new) if p._ep > 1 else 1.0
    rate = p._gemm_rate * new / (new + p._half) / p._gemm_mult
    out = {"dense_gemm": 0.0, "expert_gemm": 0.0, "weight_read": 0.0, "attention": 0.0,
           "elementwise": 0.0, "allreduce": 0.0, "gemm_tflop": 0.0, "attn_tflop": 0.0}
    for g, width_eff in p._groups:
        n = g.num_layers
        out["dense_gemm"] += n * g.dense_flop_per_token * new / rate
        touched = 1.0 - math.exp(g.log_miss * new) if g.local_experts else 0.0
        if g.local_experts:
            out["expert_gemm"] += n * (g.expert_flop_per_token * new * imb
                                       / p._expert_rate(g, new, width_eff, touched))
        out["weight_read"] += n * (g.dense_weight_bytes + g.local_experts * touched
                                   * g.expert_weight_bytes) / p._bw
        out["attention"] += n * max(pairs * g.prefill_attn_flop_per_pair / p._attn_rate,
                                    kv_tokens * g.kv_bytes_per_token / p._bw)
        out["elementwise"] += n * new * g.elem_bytes_per_token / p._bw
        out["allreduce"] += n * 2.0 * p.comm.allreduce_s(new)
        out["gemm_tflop"] += n * new * (g.dense_flop_per_token + g.expert_flop_per_token)
        out["attn_tflop"] += n * pairs * g.prefill_attn_flop_per_pair
    return {k: v * (1e-12 if k.endswith("tflop") else 1e3) for k, v in out.items()}


def main() -> None:
    for engine in ("vllm", "sglang"):
        for ep in (8, 1):
            p = perf_for(ep, engine)
            print(f"{engine} ep {ep}: GEMM {p._gemm_rate / 1e12:.0f} TFLOP/s, attention "
                  f"{p._attn_rate / 1e12:.0f} TFLOP/s, expert width factor "
                  f"{p._groups[-1][1]:.3f}")
            for new, past in STEPS:
                step_s = p.step_time_s(new, past, new * (past + new / 2), 0, 0.0)
                parts = parts_ms(p, new, past)
                print(f"  {new} new + {past} cached: step {step_s * 1e3:.1f} ms, "
                      f"{new / step_s:,.0f} tokens/s per replica | "
                      + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
