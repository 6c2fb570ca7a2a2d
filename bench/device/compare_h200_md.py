"""Markdown summary tables of a :func:`compare_h200.compare` result (used by --markdown)."""

from __future__ import annotations

import statistics
from typing import Any

TRAIN_MS = (2048, 4096, 8192, 16384)


def _pct(x: float) -> str:
    return f"{x:+.0%}"


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _span(xs: list[float]) -> str:
    return f"{min(xs):.2f}–{max(xs):.2f}" if xs else "n/a"


def gemm_train_table(rows: list[dict[str, Any]]) -> str:
    out = ["| dtype | model | M | measured frac of peak (median, range) | predicted | "
           "time error median (range) |", "|---|---|---|---|---|---|"]
    for dtype in ("bf16", "fp8"):
        for model in ("llama3-8b", "llama3-70b", "llama3-405b", "square"):
            for m in TRAIN_MS:
                rr = [r for r in rows if r["dtype"] == dtype and r["model"] == model
                      and r["m"] == m]
                if not rr:
                    continue
                meas = [r["measured_frac_of_peak"] for r in rr]
                errs = [r["error"] for r in rr]
                out.append(f"| {dtype} | {model} | {m} | {_med(meas):.3f} ({_span(meas)}) | "
                           f"{_med([r['predicted_frac_of_peak'] for r in rr]):.3f} | "
                           f"{_pct(_med(errs))} ({_pct(min(errs))}..{_pct(max(errs))}) |")
    return "\n".join(out)


def gemm_decode_table(rows: list[dict[str, Any]]) -> str:
    out = ["| model/TP | GEMM (N×K) | dtype | M=1 | 8 | 32 | 64 | 128 | 256 |",
           "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["model"], r["tp"], r["gemm"], r["n"], r["k"], r["dtype"]) for r in rows},
                  key=lambda k: (k[0], k[1], k[2], k[5]))
    for model, tp, gemm, n, k, dtype in keys:
        cells = []
        for b in (1, 8, 32, 64, 128, 256):
            r = next((x for x in rows if (x["model"], x["tp"], x["gemm"], x["dtype"], x["m"])
                      == (model, tp, gemm, dtype, b)), None)
            cells.append("–" if r is None else
                         f"{r['measured_s'] * 1e6:.1f} µs, {r['measured_bw_frac']:.2f} "
                         f"({_pct(r['error'])})")
        out.append(f"| {model} TP{tp} | {gemm} ({n}×{k}) | {dtype} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def attn_train_table(rows: list[dict[str, Any]]) -> str:
    out = ["| backend | seq | heads | fwd frac of peak | bwd frac | fwd err | bwd err | "
           "fwd+bwd err | serving prefill err |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['backend']} | {r['seq']} | {r['heads']} | "
                   f"{r['fwd_frac_of_peak']:.3f} | {r['bwd_frac_of_peak']:.3f} | "
                   f"{_pct(r['fwd_error'])} | {_pct(r['bwd_error'])} | "
                   f"{_pct(r['fwdbwd_error'])} | {_pct(r['serving_prefill_error'])} |")
    return "\n".join(out)


def attn_decode_table(rows: list[dict[str, Any]]) -> str:
    out = ["| batch | KV length | time | HBM frac | predicted | error |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['batch']} | {r['kv_len']} | {r['measured_s'] * 1e6:.1f} µs | "
                   f"{r['measured_bw_frac']:.3f} | {r['predicted_s'] * 1e6:.1f} µs | "
                   f"{_pct(r['error'])} |")
    return "\n".join(out)


def model_table(model: dict[str, Any]) -> str:
    out = ["| step | batch | context/seq | measured (graph) | eager | predicted | error |",
           "|---|---|---|---|---|---|---|"]
    for r in model["decode"]:
        out.append(f"| decode | {r['batch']} | {r['context']} | {r['graph_s'] * 1e3:.2f} ms | "
                   f"{r['eager_s'] * 1e3:.2f} ms | {r['predicted_s'] * 1e3:.2f} ms | "
                   f"{_pct(r['error'])} |")
    for r in model["prefill"]:
        out.append(f"| prefill | {r['batch']} | {r['seq']} | – | "
                   f"{r['measured_s'] * 1e3:.2f} ms | {r['predicted_s'] * 1e3:.2f} ms | "
                   f"{_pct(r['error'])} |")
    return "\n".join(out)


def render(cmp: dict[str, Any]) -> str:
    mem = "\n".join(f"- copy of {r['bytes_copied'] / 2**30:.0f} GiB: "
                    f"{r['bw_bytes_per_s'] / 1e12:.2f} TB/s read+write = "
                    f"{r['frac_of_catalog_bw']:.3f} of the catalog 4.8 TB/s "
                    f"(training memory_bw_frac {r['training_memory_bw_frac']}, serving "
                    f"bandwidth_frac {r['serving_bandwidth_frac']})" for r in cmp["memcpy"])
    return "\n\n".join([
        "### Device-to-device copy", mem,
        "### GEMMs, training shapes", gemm_train_table(cmp["gemm_train"]),
        "### GEMMs, decode shapes (time, weight-bytes share of 4.8 TB/s, error)",
        gemm_decode_table(cmp["gemm_decode"]),
        "### Attention, training (causal, bf16, d=128, 16k tokens per call)",
        attn_train_table(cmp["attn_train"]),
        "### Decode attention (1 query token, 32 q / 8 KV heads, PyTorch flash)",
        attn_decode_table(cmp["attn_decode"]),
        "### Llama-3-8B-shaped model, one step (device time)", model_table(cmp["model"]),
    ])
