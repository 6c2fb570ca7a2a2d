"""The RAG section of a serving report: per-stage latency percentiles of the pipeline."""

from __future__ import annotations

import html
from typing import Any

_ROWS = (("embed_s", "embed query (queue + batch)"), ("retrieve_s", "retrieve (index, BM25)"),
         ("rerank_s", "rerank"), ("front_s", "in front of the LLM"),
         ("llm_ttft_s", "LLM time to first token"), ("ttft_s", "time to first token"),
         ("e2e_s", "end to end"))


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:,.1f}"


def rag_section(rag: dict[str, Any]) -> str:
    """An HTML section with one row per stage (mean, p50, p90, p99, max in ms)."""
    rows = []
    for key, label in _ROWS:
        d = rag.get(key) or {}
        cells = "".join(f'<td class="num">{_ms(d.get(q))}</td>'
                        for q in ("mean", "p50", "p90", "p99", "max"))
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("stage", "mean", "p50", "p90", "p99", "max"))
    by = rag.get("requests_by_status", {})
    notes = [f"{rag.get('num_requests', 0):,} pipeline requests: {by.get('finished', 0):,} "
             f"finished, {by.get('dropped', 0):,} dropped, {by.get('in_flight', 0):,} in flight"]
    for p in rag.get("pipelines", []):
        notes.append(f"{p['service']}: {p['index']} over {p['corpus_vectors']:,} x {p['dim']}-d "
                     f"vectors, recall@1 {p['recall']:.3f}, index {p['index_bytes'] / 2**30:,.1f}"
                     " GiB")
    caption = html.escape("; ".join(notes))
    return (f'<section id="rag"><h2>RAG pipeline — latency per stage (ms)</h2>'
            f'<div class="tablewrap"><table><caption>{caption}</caption><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table></div></section>")
