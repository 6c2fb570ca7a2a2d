"""The RAG generator's Zipf chunk draw: successive sampling without replacement."""

from __future__ import annotations

import numpy as np

from gputwin.workload.llm_rag import _zipf_picks


def test_fast_draw_matches_numpy_successive_sampling() -> None:
    w = 1.0 / np.arange(1, 11) ** 1.1
    w /= w.sum()
    fast = _zipf_picks(np.random.default_rng(0), w, 100_000, 3)
    rng = np.random.default_rng(1)
    ref = np.stack([np.sort(rng.choice(10, 3, replace=False, p=w)) for _ in range(100_000)])
    f = np.bincount(fast.ravel(), minlength=10) / fast.size
    r = np.bincount(ref.ravel(), minlength=10) / ref.size
    np.testing.assert_allclose(f, r, atol=0.004)
    assert np.all(fast[:, 1:] > fast[:, :-1])  # distinct and sorted


def test_large_k_uses_the_exact_draw_and_rows_stay_distinct() -> None:
    w = np.full(8, 1 / 8)
    picks = _zipf_picks(np.random.default_rng(3), w, 50, 8)
    assert (picks == np.arange(8)).all()
