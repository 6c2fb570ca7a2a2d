"""Kernel- and step-level measurements on one GPU, to check gputwin's perf/ models.

Run on the device:  python3 bench/device/h200_measure.py --out DIR
Test here on CPU:   python bench/device/h200_measure.py --cpu-smoke --out /tmp/x

Sections (each timed with CUDA events after warm-up; medians of several runs; inputs are
random, never zeros): device-to-device copy; bf16 and fp8 (torch._scaled_mm, e4m3) GEMMs at
training shapes (Llama-3 8B/70B/405B layers split by TP 1/2/4/8, M = 2k..16k tokens) and at
decode shapes (M = 1..256, weights rotated so that they come from HBM, not L2); flash
attention (SDPA) forward and backward, causal, bf16, head dim 128; decode attention (one
query token, GQA 32/8 heads); and a Llama-3-8B-shaped model (random weights, bf16, plain
PyTorch) doing a decode step (eager and CUDA-graph replay) and a prefill step.

Writes ``results.json`` (rewritten after every section, so a run stopped early keeps what
it measured) and prints a short table last. Needs torch only. Standalone: no gputwin import.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

BF16 = torch.bfloat16
FP8 = torch.float8_e4m3fn
MODELS = {  # hidden, ffn, heads, kv heads (Llama 3 configs)
    "llama3-8b": (4096, 14336, 32, 8),
    "llama3-70b": (8192, 28672, 64, 8),
    "llama3-405b": (16384, 53248, 128, 8),
}
HEAD_DIM = 128


class Ctx:
    """Run-wide settings: device, size scale (CPU smoke shrinks everything), deadline."""

    def __init__(self, cpu: bool, budget_s: float, out_dir: str) -> None:
        self.cpu = cpu
        self.dev = torch.device("cpu" if cpu else "cuda")
        self.t0 = time.monotonic()
        self.budget_s = budget_s
        self.out_dir = out_dir
        self.results: dict[str, Any] = {"sections": {}, "errors": {}, "skipped": []}

    def left_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.t0)

    def save(self) -> None:
        self.results["elapsed_s"] = time.monotonic() - self.t0
        path = os.path.join(self.out_dir, "results.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.results, f, indent=1)
        os.replace(path + ".tmp", path)


# ---- timing ---------------------------------------------------------------------------
def sync(ctx: Ctx) -> None:
    if not ctx.cpu:
        torch.cuda.synchronize()


def time_fn(ctx: Ctx, fn: Callable[[int], object], *, target_s: float = 0.1,
            min_reps: int = 5, max_reps: int = 30, warmup: int = 2) -> dict[str, float]:
    """Median/min/max seconds of ``fn(i)`` (i = rep index, for input rotation)."""
    for i in range(warmup):
        fn(i)
    sync(ctx)
    first = _time_once(ctx, fn, warmup)
    reps = int(min(max_reps, max(min_reps, target_s / max(first, 1e-7))))
    if ctx.cpu:
        reps = min(reps, 2)
    ts = [first] + [_time_once(ctx, fn, warmup + 1 + i) for i in range(reps - 1)]
    return {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
            "reps": len(ts)}


def time_small(ctx: Ctx, fn: Callable[[int], object], *, target_s: float = 0.05,
               max_reps: int = 30) -> dict[str, float]:
    """:func:`time_fn`, but calls under 1 ms are re-timed as CUDA-graph replays of n calls.

    A single call between two events also times the host's launch gap (~10-30 us), which
    dominates short kernels; a graph of n back-to-back calls removes it. ``fn(i)`` rotates
    its inputs by ``i``, so the graph cycles through them as well."""
    t = time_fn(ctx, fn, target_s=target_s, max_reps=max_reps)
    if ctx.cpu or t["median_s"] > 1e-3:
        return {**t, "timing": "events"}
    n = int(min(200, max(10, 2e-3 / t["median_s"])))
    try:
        tg = _time_graph(ctx, fn, n, target_s)
    except Exception as exc:  # keep the event timing if capture fails
        return {**t, "timing": "events", "graph_error": repr(exc)[:200]}
    return {"median_s": tg["median_s"] / n, "min_s": tg["min_s"] / n,
            "max_s": tg["max_s"] / n, "reps": tg["reps"], "graph_calls": n,
            "timing": "graph", "events_median_s": t["median_s"]}


def _time_graph(ctx: Ctx, fn: Callable[[int], object], n: int,
                target_s: float) -> dict[str, float]:
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(3):
            fn(i)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(n):
            fn(i)
    return time_fn(ctx, lambda i: g.replay(), target_s=target_s, min_reps=10, max_reps=30)


def _time_once(ctx: Ctx, fn: Callable[[int], object], i: int) -> float:
    if ctx.cpu:
        t = time.perf_counter()
        fn(i)
        return time.perf_counter() - t
    a = torch.cuda.Event(enable_timing=True)
    b = torch.cuda.Event(enable_timing=True)
    a.record()
    fn(i)
    b.record()
    b.synchronize()
    return a.elapsed_time(b) / 1e3


def rnd(ctx: Ctx, *shape: int, dtype: torch.dtype = BF16, scale: float = 1.0) -> torch.Tensor:
    t = torch.empty(*shape, dtype=BF16 if dtype == FP8 else dtype, device=ctx.dev)
    t.normal_(0.0, scale)
    return t.to(FP8) if dtype == FP8 else t


def smi(ctx: Ctx) -> dict[str, str]:
    """Clocks, power and temperature as nvidia-smi reports them (no settings changed)."""
    if ctx.cpu:
        return {}
    q = ("name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.draw,"
         "power.limit,temperature.gpu,clocks_throttle_reasons.active,memory.total")
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        return dict(zip(q.split(","), [v.strip() for v in out.split(",")], strict=False))
    except Exception as exc:
        return {"error": repr(exc)}


def start_sampler(ctx: Ctx) -> None:
    """Read clocks/power every ~2 s in a thread while the sections run (read-only)."""
    import threading
    samples: list[dict[str, Any]] = []
    ctx.results["smi_samples"] = samples
    q = "clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu"

    def loop() -> None:
        while True:
            try:
                out = subprocess.run(["nvidia-smi", f"--query-gpu={q}",
                                      "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
                vals = [v.strip() for v in out.strip().split(",")]
                samples.append({"t_s": round(time.monotonic() - ctx.t0, 1),
                                **dict(zip(q.split(","), vals, strict=False))})
            except Exception:
                return
            time.sleep(2.0)
    threading.Thread(target=loop, daemon=True).start()


# ---- sections -------------------------------------------------------------------------
def sec_info(ctx: Ctx) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                            "cuda": torch.version.cuda, "cpu_smoke": ctx.cpu}
    if not ctx.cpu:
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, sm_count=p.multi_processor_count,
                    memory_bytes=p.total_memory, capability=f"{p.major}.{p.minor}",
                    l2_bytes=getattr(p, "L2_cache_size", None),
                    cudnn=torch.backends.cudnn.version(), smi_start=smi(ctx))
    return info


def sec_memcpy(ctx: Ctx) -> list[dict[str, Any]]:
    rows = []
    for gib in ([0.01] if ctx.cpu else [1, 4]):
        n = int(gib * 2**30) // 2
        src, dst = rnd(ctx, n), torch.empty(n, dtype=BF16, device=ctx.dev)
        t = time_fn(ctx, lambda i, d=dst, s=src: d.copy_(s), max_reps=50, min_reps=20)
        moved = 2 * n * 2  # bytes read + bytes written
        rows.append({"bytes_copied": n * 2, "bytes_moved": moved, **t,
                     "bw_bytes_per_s": moved / t["median_s"]})
    return rows


def gemm_shapes(ctx: Ctx) -> list[dict[str, Any]]:
    """Training-like (M = tokens) per-rank GEMM shapes of Llama 3 layers."""
    ms = [256] if ctx.cpu else [2048, 4096, 8192, 16384]
    out = []
    for model, (h, ffn, _, kvh) in MODELS.items():
        kvd = kvh * HEAD_DIM
        for tp in ([8] if ctx.cpu else [1, 2, 4, 8]):
            if ctx.cpu and model != "llama3-8b":
                continue
            for name, n, k in (("qkv", (h + 2 * kvd) // tp, h), ("attn_out", h, h // tp),
                               ("mlp_fc1", 2 * ffn // tp, h), ("mlp_fc2", h, ffn // tp)):
                if ctx.cpu:
                    n, k = n // 16, k // 16
                for m in ms:
                    out.append({"model": model, "tp": tp, "gemm": name, "m": m, "n": n, "k": k})
    sq = 256 if ctx.cpu else 8192
    out.append({"model": "square", "tp": 1, "gemm": "square", "m": sq, "n": sq, "k": sq})
    return out


def run_gemm(ctx: Ctx, dtype: str, m: int, n: int, k: int, rotate: int = 1,
             target_s: float = 0.1) -> dict[str, float]:
    """y[m,n] = x[m,k] @ w[n,k]^T (nn.Linear layout); ``rotate`` weight copies."""
    x = rnd(ctx, m, k, dtype=FP8 if dtype == "fp8" else BF16)
    ws = [rnd(ctx, n, k, dtype=FP8 if dtype == "fp8" else BF16, scale=0.02)
          for _ in range(rotate)]
    if dtype == "fp8":
        one = torch.ones((), dtype=torch.float32, device=ctx.dev)

        def fn(i: int) -> torch.Tensor:
            return torch._scaled_mm(x, ws[i % rotate].t(), scale_a=one, scale_b=one,
                                    out_dtype=BF16)
    else:
        def fn(i: int) -> torch.Tensor:
            return F.linear(x, ws[i % rotate])
    t = time_small(ctx, fn, target_s=target_s)
    flop = 2.0 * m * n * k
    ebytes = 1 if dtype == "fp8" else 2
    hbm = (m * k + n * k) * ebytes + m * n * 2
    return {**t, "flop": flop, "flop_per_s": flop / t["median_s"], "min_bytes": hbm,
            "bw_bytes_per_s": hbm / t["median_s"]}


def safe_gemm(ctx: Ctx, dtype: str, m: int, n: int, k: int, rotate: int = 1,
              target_s: float = 0.1) -> dict[str, Any]:
    """:func:`run_gemm`, with a failure recorded as ``error`` instead of raised."""
    try:
        return run_gemm(ctx, dtype, m, n, k, rotate, target_s)
    except Exception as exc:  # e.g. a shape _scaled_mm refuses
        return {"error": repr(exc)[:300]}


def gemm_check(ctx: Ctx) -> dict[str, float]:
    """Relative error of bf16 and fp8 GEMMs against a float32 reference (fresh inputs)."""
    m, n, k = (64, 96, 128) if ctx.cpu else (1024, 2048, 4096)
    x, w = rnd(ctx, m, k), rnd(ctx, n, k, scale=0.02)
    ref = x.float() @ w.float().t()
    y = F.linear(x, w).float()
    x8, w8 = x.to(FP8), w.to(FP8)
    one = torch.ones((), dtype=torch.float32, device=ctx.dev)
    y8 = torch._scaled_mm(x8, w8.t(), scale_a=one, scale_b=one, out_dtype=BF16).float()
    ref8 = x8.float() @ w8.float().t()
    return {"bf16_rel_err": float((y - ref).norm() / ref.norm()),
            "fp8_rel_err_vs_fp8_inputs": float((y8 - ref8).norm() / ref8.norm()),
            "fp8_rel_err_vs_bf16": float((y8 - ref).norm() / ref.norm()),
            "nan": bool(torch.isnan(y).any() or torch.isnan(y8).any())}


def sec_gemm_train(ctx: Ctx, dtype: str) -> list[dict[str, Any]]:
    rows = []
    for s in gemm_shapes(ctx):
        if ctx.left_s() < 120:
            ctx.results["skipped"].append(f"gemm_train_{dtype} after {len(rows)} shapes")
            break
        rows.append({**s, "dtype": dtype, **safe_gemm(ctx, dtype, s["m"], s["n"], s["k"])})
    return rows


def sec_gemm_decode(ctx: Ctx) -> list[dict[str, Any]]:
    """Skinny GEMMs (M = batch): weights rotated through > 4x the L2 so they come from HBM."""
    rows = []
    batches = [1, 32] if ctx.cpu else [1, 8, 32, 64, 128, 256]
    for model, tp in (("llama3-8b", 1), ("llama3-70b", 4), ("llama3-70b", 8)):
        h, ffn, _, kvh = MODELS[model]
        shapes = (("qkv", (h + 2 * kvh * HEAD_DIM) // tp, h), ("mlp_fc1", 2 * ffn // tp, h),
                  ("mlp_fc2", h, ffn // tp))
        for name, n, k in shapes:
            if ctx.cpu:
                n, k = n // 16, k // 16
            for dtype in ("bf16", "fp8"):
                wbytes = n * k * (1 if dtype == "fp8" else 2)
                rot = 1 if ctx.cpu else max(2, math.ceil(256e6 / wbytes))
                for b in batches:
                    r = safe_gemm(ctx, dtype, b, n, k, rotate=rot, target_s=0.03)
                    rows.append({"model": model, "tp": tp, "gemm": name, "dtype": dtype,
                                 "m": b, "n": n, "k": k, "rotate": rot, **r})
    return rows


def sdpa_ctx(backend: str) -> Any:
    """Restrict SDPA to one backend ("flash", "cudnn", "efficient", "math") or "any"."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    names = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
             "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    if backend == "any":
        return sdpa_kernel(list(names.values()))
    return sdpa_kernel([names[backend]])


def attn_train_one(ctx: Ctx, backend: str, b: int, heads: int, s: int) -> dict[str, Any]:
    q, k, v = (rnd(ctx, b, heads, s, HEAD_DIM).requires_grad_() for _ in range(3))
    g = rnd(ctx, b, heads, s, HEAD_DIM)
    with sdpa_ctx(backend):
        fwd = time_fn(ctx, lambda i: F.scaled_dot_product_attention(
            q, k, v, is_causal=True), target_s=0.05)

        def fb(i: int) -> None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            o.backward(g)
        fwdbwd = time_fn(ctx, fb, target_s=0.1)
    flop_fwd = 4.0 * b * heads * s * s * HEAD_DIM * 0.5  # causal: half the pairs
    bwd_s = fwdbwd["median_s"] - fwd["median_s"]
    return {"backend": backend, "batch": b, "heads": heads, "seq": s, "head_dim": HEAD_DIM,
            "flop_fwd": flop_fwd, "fwd": fwd, "fwdbwd": fwdbwd,
            "fwd_flop_per_s": flop_fwd / fwd["median_s"],
            "bwd_s": bwd_s, "bwd_flop_per_s": 2.5 * flop_fwd / bwd_s,
            "fwdbwd_flop_per_s": 3.5 * flop_fwd / fwdbwd["median_s"]}


def sec_attn_train(ctx: Ctx) -> list[dict[str, Any]]:
    """Causal attention fwd and fwd+bwd, bf16, head dim 128, B·S = 16k tokens.

    PyTorch's "flash" backend is FlashAttention-2; "cudnn" is cuDNN's fused attention
    (what Transformer Engine uses on Hopper)."""
    rows: list[dict[str, Any]] = []
    seqs = [128] if ctx.cpu else [2048, 4096, 8192, 16384]
    heads_list = [2] if ctx.cpu else [8, 32, 64]
    tokens = 256 if ctx.cpu else 16384
    for backend in (["math"] if ctx.cpu else ["flash", "cudnn"]):
        for s in seqs:
            for heads in heads_list:
                try:
                    rows.append(attn_train_one(ctx, backend, max(1, tokens // s), heads, s))
                except Exception as exc:  # a backend may refuse a shape
                    rows.append({"backend": backend, "seq": s, "heads": heads,
                                 "error": repr(exc)[:300]})
    return rows


def sec_attn_decode(ctx: Ctx) -> list[dict[str, Any]]:
    """One query token per sequence against a KV cache (GQA 32 query / 8 KV heads)."""
    rows = []
    lens = [256] if ctx.cpu else [1024, 4096, 16384, 32768]
    batches = [1, 4] if ctx.cpu else [1, 8, 32, 128]
    hq, hkv = (4, 1) if ctx.cpu else (32, 8)
    for L in lens:
        for b in batches:
            if b * L > 2**22:  # keep one layer's KV under ~17 GB
                continue
            kv_bytes = 2.0 * b * hkv * L * HEAD_DIM * 2
            rot = 1 if ctx.cpu else max(1, math.ceil(256e6 / kv_bytes))  # beat the L2
            sets = [(rnd(ctx, b, hq, 1, HEAD_DIM), rnd(ctx, b, hkv, L, HEAD_DIM),
                     rnd(ctx, b, hkv, L, HEAD_DIM)) for _ in range(rot)]
            for backend in (["math"] if ctx.cpu else ["flash", "any"]):
                try:
                    with sdpa_ctx(backend):
                        t = time_small(ctx, lambda i, ss=sets: F.scaled_dot_product_attention(
                            *ss[i % len(ss)], enable_gqa=True), target_s=0.03, max_reps=50)
                except Exception as exc:
                    rows.append({"batch": b, "kv_len": L, "backend": backend,
                                 "error": repr(exc)[:300]})
                    continue
                rows.append({"batch": b, "kv_len": L, "q_heads": hq, "kv_heads": hkv,
                             "backend": backend, **t, "kv_bytes": kv_bytes, "rotate": rot,
                             "bw_bytes_per_s": kv_bytes / t["median_s"]})
                break
    return rows


# ---- Llama-3-8B-shaped model ----------------------------------------------------------
class Layer(torch.nn.Module):
    def __init__(self, h: int, ffn: int, hq: int, hkv: int) -> None:
        super().__init__()
        self.hq, self.hkv = hq, hkv
        self.norm1 = torch.nn.RMSNorm(h)
        self.norm2 = torch.nn.RMSNorm(h)
        self.qkv = torch.nn.Linear(h, (hq + 2 * hkv) * HEAD_DIM, bias=False)
        self.o = torch.nn.Linear(hq * HEAD_DIM, h, bias=False)
        self.fc1 = torch.nn.Linear(h, 2 * ffn, bias=False)
        self.fc2 = torch.nn.Linear(ffn, h, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kc: torch.Tensor, vc: torch.Tensor, pos: int) -> torch.Tensor:
        """x [B, T, h]; writes the T new keys/values at ``pos`` of the caches [B, hkv, L, d]."""
        b, t, _ = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, t, self.hq + 2 * self.hkv, HEAD_DIM)
        q, k, v = qkv.split([self.hq, self.hkv, self.hkv], dim=2)
        q, k = rope(q, cos, sin).transpose(1, 2), rope(k, cos, sin).transpose(1, 2)
        kc[:, :, pos:pos + t] = k
        vc[:, :, pos:pos + t] = v.transpose(1, 2)
        a = F.scaled_dot_product_attention(q, kc[:, :, :pos + t], vc[:, :, :pos + t],
                                           is_causal=t > 1, enable_gqa=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        gate, up = self.fc1(self.norm2(x)).chunk(2, dim=-1)
        return x + self.fc2(F.silu(gate) * up)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Model(torch.nn.Module):
    def __init__(self, layers: int, h: int, ffn: int, hq: int, hkv: int, vocab: int) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, h)
        self.layers = torch.nn.ModuleList(Layer(h, ffn, hq, hkv) for _ in range(layers))
        self.norm = torch.nn.RMSNorm(h)
        self.head = torch.nn.Linear(h, vocab, bias=False)

    def forward(self, ids: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                caches: list[tuple[torch.Tensor, torch.Tensor]], pos: int) -> torch.Tensor:
        x = self.emb(ids)
        for layer, (kc, vc) in zip(self.layers, caches, strict=True):
            x = layer(x, cos, sin, kc, vc, pos)
        return self.head(self.norm(x[:, -1:]))  # logits of the last token only


def model_cfg(ctx: Ctx) -> dict[str, int]:
    if ctx.cpu:
        return {"layers": 2, "h": 256, "ffn": 512, "hq": 4, "hkv": 2, "vocab": 1000}
    return {"layers": 32, "h": 4096, "ffn": 14336, "hq": 32, "hkv": 8, "vocab": 128256}


def build_model(ctx: Ctx) -> Model:
    c = model_cfg(ctx)
    with torch.device(ctx.dev):
        m = Model(c["layers"], c["h"], c["ffn"], c["hq"], c["hkv"], c["vocab"]).to(BF16)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.02)
    return m.eval()


def rope_tables(ctx: Ctx, pos: int, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / (500000.0 ** (torch.arange(0, HEAD_DIM, 2, device=ctx.dev) / HEAD_DIM))
    ang = torch.arange(pos, pos + t, device=ctx.dev).float()[:, None] * inv[None]
    return ang.cos()[None, :, None].to(BF16), ang.sin()[None, :, None].to(BF16)


def caches_for(ctx: Ctx, b: int, length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    c = model_cfg(ctx)
    return [(rnd(ctx, b, c["hkv"], length, HEAD_DIM), rnd(ctx, b, c["hkv"], length, HEAD_DIM))
            for _ in range(c["layers"])]


def decode_one(ctx: Ctx, m: Model, b: int, ctx_len: int) -> dict[str, Any]:
    """One decode step at context ``ctx_len`` (attends ctx_len + 1 keys), eager and graph."""
    c = model_cfg(ctx)
    caches = caches_for(ctx, b, ctx_len + 1)
    ids = torch.randint(0, c["vocab"], (b, 1), device=ctx.dev)
    cos, sin = rope_tables(ctx, ctx_len, 1)
    step = lambda i: m(ids, cos, sin, caches, ctx_len)  # noqa: E731
    with torch.no_grad():
        eager = time_fn(ctx, step, target_s=0.2, min_reps=5, max_reps=15)
        graph = None
        if not ctx.cpu:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    step(0)
            torch.cuda.current_stream().wait_stream(s)
            ref = step(0).float()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                out = step(0)
            graph = time_fn(ctx, lambda i: g.replay(), target_s=0.3, min_reps=10,
                            max_reps=30)
            graph["max_abs_diff_vs_eager"] = float((out.float() - ref).abs().max())
            graph["finite"] = bool(torch.isfinite(out).all())
    kv_read = 2.0 * c["layers"] * b * c["hkv"] * (ctx_len + 1) * HEAD_DIM * 2
    return {"batch": b, "context": ctx_len, "eager": eager, "graph": graph,
            "kv_bytes_read": kv_read}


def sec_model(ctx: Ctx) -> dict[str, Any]:
    m = build_model(ctx)
    wbytes = sum(p.numel() * p.element_size() for p in m.parameters())
    out: dict[str, Any] = {"config": model_cfg(ctx), "weight_bytes": wbytes,
                           "decode": [], "prefill": []}
    ctx.results["sections"]["model"] = out
    batches = [1, 4] if ctx.cpu else [1, 8, 32, 64, 128, 256]
    lens = [64] if ctx.cpu else [1024, 4096]
    for L in lens:
        for b in batches:
            if b * L > 2**19:  # KV of 256 x 4k would not fit beside the weights
                continue
            if ctx.left_s() < 40:
                ctx.results["skipped"].append(f"model decode b={b} L={L}")
                continue
            out["decode"].append(decode_one(ctx, m, b, L))
            ctx.save()
    c = model_cfg(ctx)
    for b, s in ([(1, 32)] if ctx.cpu else [(1, 512), (1, 1024), (1, 2048), (1, 4096), (1, 8192),
                                         (4, 4096)]):
        if ctx.left_s() < 20:
            ctx.results["skipped"].append(f"model prefill b={b} s={s}")
            continue
        caches = caches_for(ctx, b, s)
        ids = torch.randint(0, c["vocab"], (b, s), device=ctx.dev)
        cos, sin = rope_tables(ctx, 0, s)
        with torch.no_grad():
            t = time_fn(ctx, lambda i, a=(ids, cos, sin, caches): m(*a, 0), target_s=0.3,
                        min_reps=3, max_reps=10)
        out["prefill"].append({"batch": b, "seq": s, "eager": t})
        ctx.save()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on the CPU")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--budget-s", type=float, default=330.0,
                    help="stop starting new work after this many seconds")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ctx = Ctx(args.cpu_smoke, args.budget_s, args.out)
    if not ctx.cpu and not torch.cuda.is_available():
        sys.exit("no CUDA device (use --cpu-smoke)")
    torch.manual_seed(0)
    if not ctx.cpu:
        start_sampler(ctx)
    sections: list[tuple[str, Callable[[], Any]]] = [
        ("info", lambda: sec_info(ctx)), ("memcpy", lambda: sec_memcpy(ctx)),
        ("gemm_check", lambda: gemm_check(ctx)),
        ("gemm_train_bf16", lambda: sec_gemm_train(ctx, "bf16")),
        ("gemm_train_fp8", lambda: sec_gemm_train(ctx, "fp8")),
        ("gemm_decode", lambda: sec_gemm_decode(ctx)),
        ("attn_train", lambda: sec_attn_train(ctx)),
        ("attn_decode", lambda: sec_attn_decode(ctx)),
        ("model", lambda: sec_model(ctx)),
    ]
    for name, fn in sections:
        t = time.monotonic()
        try:
            ctx.results["sections"][name] = fn()
        except Exception:  # keep the other sections
            ctx.results["errors"][name] = traceback.format_exc()
            print(f"[{name}] FAILED:\n{traceback.format_exc()}", flush=True)
        if not ctx.cpu:
            torch.cuda.empty_cache()
            ctx.results["sections"].setdefault("smi", {})[name] = smi(ctx)
        print(f"[{name}] {time.monotonic() - t:.1f}s (total {time.monotonic() - ctx.t0:.1f}s)",
              flush=True)
        ctx.save()
    summary(ctx.results)


def summary(r: dict[str, Any]) -> None:
    s = r["sections"]
    print("== summary ==")
    for row in s.get("memcpy", []):
        print(f"memcpy {row['bytes_copied'] / 2**30:.2f} GiB: "
              f"{row['bw_bytes_per_s'] / 1e12:.2f} TB/s (read+write)")
    print("gemm_check", s.get("gemm_check"))
    for key in ("gemm_train_bf16", "gemm_train_fp8"):
        rows = [x for x in s.get(key, []) if "error" not in x]
        if rows:
            best = max(rows, key=lambda x: x["flop_per_s"])
            big = [x for x in rows if x["m"] >= 8192]
            med = statistics.median(x["flop_per_s"] for x in big) if big else float("nan")
            print(f"{key}: {len(rows)} shapes, best {best['flop_per_s'] / 1e12:.0f} TFLOP/s "
                  f"({best['model']} tp{best['tp']} {best['gemm']} m{best['m']}), "
                  f"median M>=8k {med / 1e12:.0f}")
    for row in s.get("attn_train", []):
        if "error" in row:
            print(f"attn {row['backend']} s={row['seq']} h={row['heads']}: {row['error'][:80]}")
            continue
        print(f"attn {row['backend']} s={row['seq']} h={row['heads']}: "
              f"fwd {row['fwd_flop_per_s'] / 1e12:.0f}"
              f" bwd {row['bwd_flop_per_s'] / 1e12:.0f} TFLOP/s")
    for row in s.get("attn_decode", []):
        if "error" in row:
            continue
        print(f"decode-attn {row['backend']} b={row['batch']} L={row['kv_len']}: "
              f"{row['bw_bytes_per_s'] / 1e12:.2f} TB/s")
    model = s.get("model") or {}
    for row in model.get("decode", []):
        g = row["graph"]["median_s"] * 1e3 if row["graph"] else float("nan")
        print(f"decode b={row['batch']} ctx={row['context']}: eager "
              f"{row['eager']['median_s'] * 1e3:.2f} ms, graph {g:.2f} ms")
    for row in model.get("prefill", []):
        print(f"prefill b={row['batch']} s={row['seq']}: {row['eager']['median_s'] * 1e3:.2f} ms")
    print("errors:", list(r["errors"]), "skipped:", r["skipped"])


if __name__ == "__main__":
    main()
