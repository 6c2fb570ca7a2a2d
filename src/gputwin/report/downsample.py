"""Shrink step-function timelines for plotting without losing their shape.

A long run samples the cluster at every change, which can mean millions of points; a
browser plots ~20,000 comfortably. Two stages, both keeping only *real* samples:

1. :func:`drop_repeats` removes samples whose value equals the previous one. For a step
   function this is lossless — the drawn line is identical.
2. :func:`downsample_step` (only if still above the budget) splits the samples into equal
   index buckets and keeps, per bucket, the first, last, minimum and maximum sample (the
   "M4" rule). The first and last samples of the series and its global maximum and minimum
   always survive; what is lost is short excursions inside a bucket that are neither its
   highest nor lowest point. Plotted with ``line_shape="hv"`` it remains a step line.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_MAX_POINTS = 20_000


def drop_repeats(
    time_s: Sequence[float], values: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Keep samples where the value changes, plus the first and the last sample."""
    n = min(len(time_s), len(values))
    if n <= 2:
        return list(time_s[:n]), list(values[:n])
    keep_t = [time_s[0]]
    keep_v = [values[0]]
    for i in range(1, n - 1):
        if values[i] != keep_v[-1]:
            keep_t.append(time_s[i])
            keep_v.append(values[i])
    keep_t.append(time_s[n - 1])
    keep_v.append(values[n - 1])
    return keep_t, keep_v


def downsample_step(
    time_s: Sequence[float], values: Sequence[float], max_points: int = DEFAULT_MAX_POINTS
) -> tuple[list[float], list[float]]:
    """At most ``max_points`` samples of a step series (see module docstring).

    Raises ``ValueError`` if ``max_points < 4`` (a bucket needs room for its four picks).
    Series already within the budget are returned unchanged (as lists).
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    n = min(len(time_s), len(values))
    if n <= max_points:
        return list(time_s[:n]), list(values[:n])
    num_buckets = max_points // 4
    keep: set[int] = set()
    for b in range(num_buckets):
        lo = b * n // num_buckets
        hi = (b + 1) * n // num_buckets  # exclusive
        if hi <= lo:
            continue
        idx = range(lo, hi)
        keep.add(lo)
        keep.add(hi - 1)
        keep.add(min(idx, key=lambda i: values[i]))
        keep.add(max(idx, key=lambda i: values[i]))
    # Bucket 0 starts at 0 and the last bucket ends at n-1, so the end points are edges;
    # four picks per bucket keep the total within max_points.
    ordered = sorted(keep)
    return [time_s[i] for i in ordered], [values[i] for i in ordered]


def prepare_step(
    time_s: Sequence[float],
    values: Sequence[float],
    end_s: float,
    max_points: int = DEFAULT_MAX_POINTS,
) -> tuple[list[float], list[float]]:
    """Series ready for a step plot: repeats dropped, held to ``end_s``, downsampled.

    The last value is repeated at ``end_s`` (when later than the last sample) so the line
    visibly holds until the end of the run — also for a single-sample timeline.
    """
    t, v = drop_repeats(time_s, values)
    if t and end_s > t[-1]:
        t.append(end_s)
        v.append(v[-1])
    return downsample_step(t, v, max_points)
