"""Pipeline schedule: 1F1B and interleaved 1F1B (Narayanan et al., SC'21), and DualPipe.

With ``m`` micro-batches, ``p`` stages and ``v`` virtual chunks per stage, the step takes
``(m + (p − 1)/v) · t_mb``; the bubble is the ``(p − 1)/v · t_mb`` part, i.e. a fraction
``(p − 1)/(v·m)`` of the ideal time. The steady state runs at the pace of the slowest
stage (``t_max``), the fill and drain at the average stage.
"""

from __future__ import annotations


def bubble_s(pp: int, interleave: int, t_mb_avg_s: float) -> float:
    """Idle seconds per step caused by filling and draining the pipeline."""
    if pp <= 1:
        return 0.0
    return (pp - 1) / interleave * t_mb_avg_s


def dualpipe_bubble_s(pp: int, fwd_s: float, bwd_s: float) -> float:
    """DualPipe's idle seconds per step (DeepSeek-V3 report §3.2.1, Table 2):
    ``(p/2 − 1)·(F&B + B − 3W)``, with a paired forward-and-backward chunk ``F&B = F + B``
    (the all-to-all of each hides behind the other) and the weight-gradient part of the
    backward ``W = min(F, B/2)`` (the weight-gradient GEMMs redo the forward's FLOPs)."""
    if pp <= 1:
        return 0.0
    w = min(fwd_s, bwd_s / 2.0)
    return (pp / 2.0 - 1.0) * max(0.0, fwd_s + 2.0 * bwd_s - 3.0 * w)

