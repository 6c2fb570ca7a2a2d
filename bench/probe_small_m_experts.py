"""Probe: the serving model's grouped expert GEMM rate at published small-M kernel shapes.

Run: ``python bench/probe_small_m_experts.py``. Prints, for DeepSeek-R1 FP8 experts on an
H20 (SGLang, EP16: 16 local experts per GPU), the FLOP/s that ``ServingPerf._expert_rate``
gives one layer's grouped expert GEMMs at 32, 96 and 160 rows per expert, next to
DeepGEMM's ``m_grouped_fp8_gemm_nt_masked`` measured on an H20 at the same shapes (16
groups; N=4096/K=7168 gate-up and N=7168/K=2048 down), with and without swap-AB
(deepseek-ai/DeepGEMM pull request 192, 2025-09-11; the kernel change the Ant Group H20
deployment runs). Also prints the model's rate without its narrow-expert factor
``width/(width + moe_width_half)``, and the same for an H100 SXM against DeepGEMM's own
H800 figures (same GH100 FP8 tensor rate, 1,979 dense TFLOP/s; the deepseek-ai/DeepGEMM
README's "Performance" tables, 2025, NVCC 12.8: masked layout 1-4 groups of 1,024-256
rows, contiguous layout 4-8 groups of 8,192-4,096 rows, the same N x K). Nothing is
fitted; docs/serving-model.md ("Small-M GEMMs and swap-AB", "What the narrow-expert loss
is") reads the output.
"""

from __future__ import annotations

from gputwin.catalog.loader import default_catalog
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.topology.hardware import resolve_hardware

#: (rows per expert, (N, K), published TFLOP/s without swap-AB, with swap-AB or None)
DEEPGEMM_H20_PR192: tuple[tuple[int, tuple[int, int], float, float | None], ...] = (
    (32, (4096, 7168), 117.0, 195.0),
    (32, (7168, 2048), 118.0, 180.0),
    (96, (4096, 7168), 181.0, None),
    (96, (7168, 2048), 188.0, None),
    (160, (4096, 7168), 163.0, None),
    (160, (7168, 2048), 159.0, None),
)


#: DeepGEMM README (H800): (rows per group, (N, K), TFLOP/s, layout)
DEEPGEMM_H800_README: tuple[tuple[int, tuple[int, int], float, str], ...] = (
    (256, (4096, 7168), 932.0, "masked 4 groups"),
    (256, (7168, 2048), 815.0, "masked 4 groups"),
    (1024, (4096, 7168), 1233.0, "masked 1 group"),
    (1024, (7168, 2048), 925.0, "masked 1 group"),
    (4096, (4096, 7168), 1288.0, "contiguous 8 groups"),
    (4096, (7168, 2048), 1093.0, "contiguous 8 groups"),
)


def model_tflops(rows_per_expert: float, gpu: str = "h20", engine: str = "sglang",
                 ) -> tuple[float, float]:
    """(modelled expert GEMM TFLOP/s, the same without the narrow-expert factor) for
    DeepSeek-R1 FP8 experts at ``rows_per_expert`` rows, every local expert touched."""
    cat = default_catalog()
    perf = prepare_serving(ServingConfig(
        cat.model("deepseek-r1"), resolve_hardware(cat, gpu=gpu, system=None), tp=1, ep=16,
        dp_attention=16, weights_dtype="fp8", kv_cache_dtype="fp8", engine=engine))
    group, width_eff = next((g, w) for g, w in perf._groups if g.local_experts)
    routed = rows_per_expert / group.rows_per_expert_per_token
    rate = perf._expert_rate(group, round(routed), width_eff, 1.0)
    return rate / 1e12, rate / width_eff / 1e12


def main() -> None:
    print(f"{'rows':>5} {'N x K':>11} {'model':>7} {'no width':>9} {'DeepGEMM':>9} {'swapAB':>7}")
    for rows, (n, k), plain, swap in DEEPGEMM_H20_PR192:
        model, no_width = model_tflops(rows)
        print(f"{rows:5d} {n:5d}x{k:<5d} {model:7.1f} {no_width:9.1f} {plain:9.0f} "
              f"{'-' if swap is None else f'{swap:.0f}':>7}")
    print("\nH100 SXM model against DeepGEMM on H800 (README)")
    print(f"{'rows':>5} {'N x K':>11} {'model':>7} {'no width':>9} {'DeepGEMM':>9}  layout")
    for rows, (n, k), measured, layout in DEEPGEMM_H800_README:
        model, no_width = model_tflops(rows, gpu="h100-sxm-80gb")
        print(f"{rows:5d} {n:5d}x{k:<5d} {model:7.1f} {no_width:9.1f} {measured:9.0f}  {layout}")


if __name__ == "__main__":
    main()
