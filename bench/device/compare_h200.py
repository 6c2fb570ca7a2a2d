"""Compare the H200 measurements (bench/device/h200_measure.py) with gputwin's perf models.

    PYTHONPATH=src python bench/device/compare_h200.py [--results FILE] [--markdown]

Prints JSON (every measured row with its prediction) or, with ``--markdown``, the summary
tables used in docs/measurements/h200-2026-12.md. Errors are in time:
``error = predicted_s / measured_s - 1`` (positive: the model is too slow/pessimistic).
Kernel-level predictions leave out the training model's ``sustained_frac`` (framework
overhead) and the serving model's host overheads: the measurements are single kernels and
device time of one step.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import default_catalog
from gputwin.catalog.schema import Accelerator
from gputwin.perf.calibration import AcceleratorCoefficients, Calibration, default_calibration
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.perf.serving_calib import ServingAccelCoefficients, default_serving_calibration
from gputwin.topology.hardware import resolve_hardware

RESULTS = Path(__file__).with_name("results") / "h200-2026-12.json"
GPU = "h200-sxm-141gb"
#: bwd flash attention runs at this share of the forward's rate (perf/compute.py)
ATTN_BWD_RATE_FRAC = 0.75


@dataclass(frozen=True)
class Models:
    accel: Accelerator
    train: AcceleratorCoefficients
    cal: Calibration
    serve: ServingAccelCoefficients
    serving: ServingPerf
    attn_eff_mult: float
    half_tokens: float


def load_models() -> Models:
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu=GPU)
    scal = default_serving_calibration()
    cal = default_calibration()
    perf = prepare_serving(ServingConfig(cat.model("llama3-8b"), hw, max_num_seqs=512))
    return Models(hw.accelerator, cal.for_accelerator(GPU), cal, scal.for_accelerator(GPU),
                  perf, scal.attention_eff_mult, scal.gemm_half_tokens)


def _g(x: float, half: float) -> float:
    """Shape factor of perf/compute.py: x / (x + half)."""
    return x / (x + half)


def _err(pred_s: float, meas_s: float) -> float:
    return pred_s / meas_s - 1.0


def gemm_train(m: Models, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Training model: FLOP / (peak · gemm_max_frac · g(M)·g(N)·g(K))."""
    out = []
    for r in rows:
        if "error" in r:
            continue
        dtype = r["dtype"]
        h = m.cal.gemm_half_dim
        rate = (m.accel.peak_for(dtype) * m.train.gemm_frac(dtype)
                * _g(r["m"], h) * _g(r["n"], h) * _g(r["k"], h))
        pred = r["flop"] / rate
        out.append({k: r[k] for k in ("model", "tp", "gemm", "dtype", "m", "n", "k")}
                   | {"measured_s": r["median_s"], "predicted_s": pred,
                      "measured_frac_of_peak": r["flop_per_s"] / m.accel.peak_for(dtype),
                      "predicted_frac_of_peak": rate / m.accel.peak_for(dtype),
                      "error": _err(pred, r["median_s"])})
    return out


def gemm_decode(m: Models, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Serving model: max(FLOP / (peak·frac·cem·g(T)), weight bytes / (HBM bw · bw_frac))."""
    bw = m.accel.memory_bandwidth_bytes_per_s * m.serve.bandwidth_frac
    out = []
    for r in rows:
        if "error" in r:
            continue
        dtype = r["dtype"]
        rate = (m.accel.peak_for(dtype) * m.train.gemm_frac(dtype) * m.serve.compute_eff_mult
                * r["m"] / (r["m"] + m.half_tokens))
        wbytes = r["n"] * r["k"] * (1.0 if dtype == "fp8" else 2.0)
        pred = max(r["flop"] / rate, wbytes / bw)
        out.append({k: r[k] for k in ("model", "tp", "gemm", "dtype", "m", "n", "k")}
                   | {"measured_s": r["median_s"], "predicted_s": pred,
                      "measured_bw_frac": wbytes / r["median_s"]
                      / m.accel.memory_bandwidth_bytes_per_s,
                      "timing": r.get("timing", "events"),
                      "error": _err(pred, r["median_s"])})
    return out


def attn_train(m: Models, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Training model: forward at attention_frac of the bf16 peak, backward (2.5× the work)
    at 0.75 of that rate; serving prefill at attention_frac · attention_eff_mult."""
    peak = m.accel.peak_for("bf16")
    fwd_rate = peak * m.train.attention_frac
    serve_rate = peak * min(1.0, m.train.attention_frac * m.attn_eff_mult)
    out = []
    for r in rows:
        if "error" in r:
            continue
        f = r["flop_fwd"]
        pred_fwd = f / fwd_rate
        pred_bwd = 2.5 * f / (fwd_rate * ATTN_BWD_RATE_FRAC)
        out.append({k: r[k] for k in ("backend", "batch", "heads", "seq")}
                   | {"fwd_measured_s": r["fwd"]["median_s"], "fwd_predicted_s": pred_fwd,
                      "fwd_frac_of_peak": r["fwd_flop_per_s"] / peak,
                      "bwd_frac_of_peak": r["bwd_flop_per_s"] / peak,
                      "fwd_error": _err(pred_fwd, r["fwd"]["median_s"]),
                      "bwd_error": _err(pred_bwd, r["bwd_s"]),
                      "fwdbwd_error": _err(pred_fwd + pred_bwd, r["fwdbwd"]["median_s"]),
                      "serving_prefill_error": _err(f / serve_rate, r["fwd"]["median_s"])})
    return out


def attn_decode(m: Models, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Serving model: KV bytes / (HBM bw · bandwidth_frac) (the compute side never binds)."""
    bw = m.accel.memory_bandwidth_bytes_per_s * m.serve.bandwidth_frac
    out = []
    for r in rows:
        if "error" in r:
            continue
        pred = r["kv_bytes"] / bw
        out.append({k: r[k] for k in ("batch", "kv_len", "backend")}
                   | {"measured_s": r["median_s"], "predicted_s": pred,
                      "measured_bw_frac": r["bw_bytes_per_s"]
                      / m.accel.memory_bandwidth_bytes_per_s,
                      "timing": r.get("timing", "events"),
                      "error": _err(pred, r["median_s"])})
    return out


def memcpy(m: Models, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hbm = m.accel.memory_bandwidth_bytes_per_s
    return [{"bytes_copied": r["bytes_copied"], "bw_bytes_per_s": r["bw_bytes_per_s"],
             "frac_of_catalog_bw": r["bw_bytes_per_s"] / hbm,
             "training_memory_bw_frac": m.cal.memory_bw_frac,
             "serving_bandwidth_frac": m.serve.bandwidth_frac} for r in rows]


def model_steps(m: Models, sec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Serving model device time of a decode / prefill step (host overheads left out)."""
    p = m.serving
    step_oh, seq_oh = p.calibration.host_overheads(p.config.engine)
    dec = []
    for r in sec.get("decode", []):
        b, ctx = r["batch"], r["context"]
        pred = p.step_time_s(0, 0.0, 0.0, b, float(b * (ctx + 1))) - step_oh - seq_oh * b
        meas = r["graph"]["median_s"] if r.get("graph") else r["eager"]["median_s"]
        dec.append({"batch": b, "context": ctx, "graph_s": meas,
                    "eager_s": r["eager"]["median_s"], "predicted_s": pred,
                    "error": _err(pred, meas)})
    pre = []
    for r in sec.get("prefill", []):
        b, s = r["batch"], r["seq"]
        pred = p.step_time_s(b * s, 0.0, b * s * s / 2.0, 0, 0.0) - step_oh
        pre.append({"batch": b, "seq": s, "measured_s": r["eager"]["median_s"],
                    "predicted_s": pred, "error": _err(pred, r["eager"]["median_s"])})
    return {"decode": dec, "prefill": pre}


def compare(results: dict[str, Any]) -> dict[str, Any]:
    m = load_models()
    s = results["sections"]
    return {
        "machine": s.get("info", {}),
        "memcpy": memcpy(m, s.get("memcpy", [])),
        "gemm_train": gemm_train(m, s.get("gemm_train_bf16", []) + s.get("gemm_train_fp8", [])),
        "gemm_decode": gemm_decode(m, s.get("gemm_decode", [])),
        "attn_train": attn_train(m, s.get("attn_train", [])),
        "attn_decode": attn_decode(m, s.get("attn_decode", [])),
        "model": model_steps(m, s.get("model") or {}),
    }


def stats(errs: list[float]) -> str:
    if not errs:
        return "n/a"
    return (f"median {statistics.median(errs):+.0%}, range {min(errs):+.0%}..{max(errs):+.0%}"
            f" (n={len(errs)})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--markdown", action="store_true", help="summary tables, not JSON")
    args = ap.parse_args(argv)
    cmp = compare(json.loads(args.results.read_text()))
    if args.markdown:
        from compare_h200_md import render  # type: ignore[import-not-found]
        print(render(cmp))
    else:
        print(json.dumps(cmp, indent=1))


if __name__ == "__main__":
    main()
