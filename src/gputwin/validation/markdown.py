"""Validation results as Markdown: one table per kind plus error statistics."""

from __future__ import annotations

from collections.abc import Sequence

from gputwin.validation.runner import CaseResult, error_stats

_KIND_TITLES = {
    "training": "Training step time / throughput / MFU",
    "collective": "Collective communication",
    "serving": "Inference serving",
    "serving_sim": "Inference serving, simulated end to end (simulate serve)",
    "energy": "Energy, carbon and power",
    "rag": "RAG pipelines, one request (estimate rag)",
    "vector_index": "Vector indexes: recall and memory",
    "reliability": "Reliability: interruptions and effective training time",
    "optics": "Optical fabrics (estimate optics)",
    "generation": "Image and video generation",
    "dataflow": "SRAM-resident dataflow parts: Groq LPU, Cerebras (estimate dataflow)",
    "supply": "Power supply: capacity factors, prices, storage (economics supply)",
    "tco": "Owned-fleet cost: facility capex (economics owned)",
    "kernel": "Single kernels: GEMM and fused attention TFLOP/s",
}


def _num(value: float) -> str:
    mag = abs(value)
    if mag >= 1e6 or (0 < mag < 1e-2):
        return f"{value:.3g}"
    return f"{value:,.4g}"


def _stats_line(label: str, results: Sequence[CaseResult]) -> str:
    stats = error_stats(results)
    if stats is None:
        return f"- {label}: no cases"
    return (f"- {label}: {stats.count} cases, median |error| {stats.median_abs_error:.1%}, "
            f"worst {stats.worst_abs_error:.1%} (`{stats.worst_case}`)")


def results_markdown(results: Sequence[CaseResult]) -> str:
    """Tables of predicted vs published with citation links; calibration cases marked."""
    out: list[str] = []
    kinds = [k for k in _KIND_TITLES if any(r.case.kind == k for r in results)]
    for kind in kinds:
        subset = [r for r in results if r.case.kind == kind]
        out.append(f"### {_KIND_TITLES[kind]}\n")
        out.append(_stats_line("hold-out", [r for r in subset if not r.case.calibration]))
        out.append(_stats_line("calibration", [r for r in subset if r.case.calibration]))
        out.append(_stats_line("all", subset))
        out.append("")
        out.append("| case | metric | published | predicted | error | tolerance | source |")
        out.append("|---|---|---:|---:|---:|---:|---|")
        for r in subset:
            case = r.case
            name = f"`{case.id}`" + (" (calibration)" if case.calibration else "")
            source = f"[{case.citation.split(',')[0]}]({case.url})" if case.url else case.citation
            predicted = "error: " + r.error if r.predicted is None else _num(r.predicted)
            error = "-" if r.rel_error is None else f"{r.rel_error:+.1%}"
            if r.is_known_gap:
                error += " (known gap)"
            out.append(f"| {name} | {case.metric} | {_num(case.published)} | {predicted} | "
                       f"{error} | {case.tolerance_frac:.0%} | {source} |")
        out.append("")
    return "\n".join(out)
