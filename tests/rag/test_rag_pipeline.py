"""serving.rag_pipeline: FCFS batching queues; every request leaves each stage once."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.errors import InputError
from gputwin.serving.rag_pipeline import RagPipeline, StageSpec, run_stage


def const(s: float) -> StageSpec:
    return StageSpec("c", 1, 1, lambda _n, _t: s)


def test_single_server_queues_in_arrival_order() -> None:
    done = run_stage(np.array([0.0, 0.0, 0.0]), np.ones(3, np.int64), const(1.0))
    assert done.tolist() == [1.0, 2.0, 3.0]


def test_more_servers_serve_in_parallel() -> None:
    done = run_stage(np.zeros(4), np.ones(4, np.int64), StageSpec("c", 2, 1, lambda _n, _t: 1.0))
    assert sorted(done.tolist()) == [1.0, 1.0, 2.0, 2.0]


def test_dynamic_batching_takes_every_waiting_request_up_to_the_limit() -> None:
    sizes: list[int] = []

    def cost(n: int, _t: int) -> float:
        sizes.append(n)
        return 1.0

    run_stage(np.array([0.0, 0.1, 0.2, 0.3, 0.4, 5.0]), np.ones(6, np.int64),
              StageSpec("b", 1, 3, cost))
    assert sizes == [1, 3, 1, 1]


def test_a_batch_costs_its_longest_sequence() -> None:
    seen: list[int] = []
    run_stage(np.zeros(3), np.array([10, 50, 20]),
              StageSpec("b", 1, 8, lambda n, t: seen.append(t) or 0.1))
    assert seen == [50]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=60),
       st.integers(1, 4), st.integers(1, 8))
def test_no_request_is_lost_or_served_before_it_is_ready(
        arrivals: list[float], servers: int, batch: int) -> None:
    ready = np.array(arrivals)
    done = run_stage(ready, np.full(len(ready), 7, np.int64),
                     StageSpec("p", servers, batch, lambda n, _t: 0.01 + 0.001 * n))
    assert len(done) == len(ready) and np.all(done >= ready + 0.01 - 1e-12)
    assert np.all(np.isfinite(done))


def test_pipeline_stage_times_add_up_and_hybrid_waits_for_bm25() -> None:
    arr = np.array([0.0, 0.5, 1.0])
    q = np.full(3, 32, np.int64)
    plain = RagPipeline(const(0.01), const(0.02))
    slow_bm25 = RagPipeline(const(0.01), const(0.02), bm25=const(0.2), rerank=const(0.05))
    a, b = plain.run(arr, q), slow_bm25.run(arr, q)
    np.testing.assert_allclose(a.front_s, a.embed_s + a.retrieve_s + a.rerank_s)
    np.testing.assert_allclose(a.front_s, 0.03)
    np.testing.assert_allclose(b.retrieve_s, 0.19)  # BM25 started at the arrival
    np.testing.assert_allclose(b.front_s, 0.25)


def test_stage_needs_a_server() -> None:
    with pytest.raises(InputError):
        StageSpec("x", 0, 1, lambda _n, _t: 1.0)
