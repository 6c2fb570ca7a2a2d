"""Report tables for multi-tenancy: Kueue-style cluster queues and tenant shares.

Both read the run summary only (``summary["queues"]``, see docs/multi-tenancy.md, and
``summary["tenants"]``, see docs/scheduling.md), so they work on any saved summary:

- :func:`queues_table`: per cluster queue, GPU-hours used vs nominal, borrowed and lent,
  admissions, preemptions by reason and wait p50/p95; ``None`` without a ``tenancy:``
  section (no ``queues`` key).
- :func:`tenants_table`: per tenant, GPU-hours held and their share vs the entitlement;
  ``None`` unless the run had ``scheduler.tenant_shares`` (entitlements).

Cells are escaped; numeric cells carry ``data-sort`` with the raw value (the page's sort
script orders them numerically).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from gputwin.report.fmt import MISSING, fmt_count, fmt_duration, fmt_pct

#: Preemption reasons shown as their own columns (the rest are summed into "other").
REASONS = ("within-queue", "reclaim", "borrow-within-cohort")

Cell = tuple[str, float | None]  # (display text, numeric sort key or None for text)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _hours(value: Any) -> Cell:
    v = _num(value)
    return (MISSING if v is None else f"{fmt_count(round(v, 2))} GPU·h", v)


def _cell(text: str, key: float | None) -> str:
    if key is None:
        return f"<td>{html.escape(text)}</td>"
    return f'<td class="num" data-sort="{key:.9g}">{html.escape(text)}</td>'


def _table(table_id: str, caption: str, headers: Sequence[tuple[str, bool]],
           rows: Sequence[Sequence[Cell]]) -> str:
    head = "".join(f'<th data-type="{"num" if num else "text"}">{html.escape(h)}</th>'
                   for h, num in headers)
    body = "\n".join("<tr>" + "".join(_cell(t, k) for t, k in row) + "</tr>" for row in rows)
    return (f'<table id="{html.escape(table_id)}" class="sortable">'
            f"<caption>{html.escape(caption)}</caption>"
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>")


def _queue_row(name: str, q: Mapping[str, Any]) -> list[Cell]:
    wait = q.get("wait_s") or {}
    by_reason = q.get("preemptions_by_reason") or {}
    other = sum(v for r, v in by_reason.items() if r not in REASONS and _num(v) is not None)
    ratio = _num(q.get("usage_vs_nominal"))
    admissions = _num(q.get("admissions"))
    cells: list[Cell] = [
        (name, None),
        (str(q.get("cohort") or MISSING), None),
        (fmt_count(_num(q.get("nominal_gpus"))), _num(q.get("nominal_gpus"))),
        _hours(q.get("gpu_hours_used")),
        _hours(q.get("nominal_gpu_hours")),
        (fmt_pct(ratio), ratio),
        _hours(q.get("gpu_hours_borrowed")),
        _hours(q.get("gpu_hours_lent")),
        (fmt_count(admissions), admissions),
    ]
    for reason in REASONS:
        n = _num(by_reason.get(reason, 0))
        cells.append((fmt_count(n), n))
    cells.append((fmt_count(other), float(other)))
    for p in ("p50", "p95"):
        w = _num(wait.get(p))
        cells.append((fmt_duration(w), w))
    return cells


def queues_table(summary: Mapping[str, Any]) -> str | None:
    """The per-cluster-queue table, or ``None`` when the summary has no ``queues``."""
    queues = summary.get("queues")
    if not isinstance(queues, Mapping) or not queues:
        return None
    headers = [("cluster queue", False), ("cohort", False), ("nominal GPUs", True),
               ("used", True), ("nominal", True), ("used / nominal", True),
               ("borrowed", True), ("lent", True), ("admissions", True),
               *((f"preempted: {r}", True) for r in REASONS), ("preempted: other", True),
               ("wait p50", True), ("wait p95", True)]
    rows = [_queue_row(str(name), q) for name, q in sorted(queues.items())
            if isinstance(q, Mapping)]
    return _table("table-queues", "Cluster queues: quota use, borrowing, preemptions, waits",
                  headers, rows)


def tenants_table(summary: Mapping[str, Any]) -> str | None:
    """Per tenant share of GPU-hours vs entitlement, or ``None`` without entitlements."""
    tenants = summary.get("tenants")
    if not isinstance(tenants, Mapping) or not any(
            isinstance(t, Mapping) and "entitlement_frac" in t for t in tenants.values()):
        return None
    headers = [("tenant", False), ("jobs", True), ("GPU-hours", True), ("share", True),
               ("entitlement", True), ("entitled", True), ("usage / entitlement", True)]
    rows: list[list[Cell]] = []
    for name, t in sorted(tenants.items()):
        if not isinstance(t, Mapping):
            continue
        jobs, share, ent, use = (_num(t.get(k)) for k in (
            "num_jobs", "gpu_hours_frac", "entitlement_frac", "usage_vs_entitlement"))
        rows.append([(str(name), None), (fmt_count(jobs), jobs), _hours(t.get("gpu_hours")),
                     (fmt_pct(share), share), (fmt_pct(ent), ent),
                     _hours(t.get("entitled_gpu_hours")),
                     (MISSING if use is None else f"{use:.2f}×", use)])
    return _table("table-tenants", "Tenants: GPU-hours held vs entitlement", headers, rows)


def tenancy_tables(summary: Mapping[str, Any]) -> str:
    """Both tables (those that apply) as report panels; ``""`` when neither applies."""
    parts = [t for t in (queues_table(summary), tenants_table(summary)) if t is not None]
    return "".join(f'<div class="tablewrap">{p}</div>' for p in parts)
