"""perf.vector_index: memory per vector, recall and query time respond to their knobs."""

from __future__ import annotations

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.vector_index import (
    INDEX_KINDS,
    IndexSpec,
    bm25_time_s,
    bytes_per_vector,
    index_memory_bytes,
    recall,
    search_time_s,
)

H100 = default_catalog().accelerator("h100-sxm-80gb")


def spec(**kw: object) -> IndexSpec:
    base: dict[str, object] = {"kind": "hnsw", "num_vectors": 1_000_000, "dim": 768}
    base.update(kw)
    return IndexSpec(**base)  # type: ignore[arg-type]


def t(s: IndexSpec, k: int = 10, batch: int = 1) -> float:
    return search_time_s(s, k, batch=batch, acc=H100 if s.is_gpu else None)


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_every_kind_has_positive_time_memory_and_recall_in_range(kind: str) -> None:
    s = spec(kind=kind, pq_bytes=96)
    assert t(s) > 0 and bytes_per_vector(s) > 0
    assert 0.0 < recall(s, 10) <= 1.0


def test_memory_orders_pq_below_flat_below_graph() -> None:
    pq, flat, graph = (bytes_per_vector(spec(kind=k, pq_bytes=64))
                       for k in ("ivf_pq", "ivf_flat", "hnsw"))
    assert pq < flat < graph
    assert bytes_per_vector(spec(kind="flat")) == 768 * 4
    assert bytes_per_vector(spec(kind="flat", vector_dtype="int8")) == 768


def test_recall_rises_and_time_grows_with_search_effort() -> None:
    lo, hi = spec(ef_search=16), spec(ef_search=256)
    assert recall(lo, 1) < recall(hi, 1) and t(lo) < t(hi)
    lo, hi = spec(kind="ivf_flat", nprobe=4), spec(kind="ivf_flat", nprobe=64)
    assert recall(lo, 1) < recall(hi, 1) and t(lo) < t(hi)
    small, big = spec(kind="ivf_pq", pq_bytes=16), spec(kind="ivf_pq", pq_bytes=192)
    assert recall(small, 1) < recall(big, 1)
    assert recall(spec(kind="ivf_pq", pq_bytes=16, refine=8), 1) > recall(small, 1)


def test_exhaustive_search_is_exact_and_linear_in_corpus() -> None:
    assert recall(spec(kind="flat"), 10) == 1.0
    assert t(spec(kind="flat", num_vectors=2_000_000)) == pytest.approx(
        2 * t(spec(kind="flat")), rel=1e-9)


def test_sharding_splits_memory_per_shard_and_cuts_search_time() -> None:
    one, four = spec(kind="flat", num_vectors=8_000_000), spec(kind="flat", num_vectors=8_000_000,
                                                                shards=4)
    assert index_memory_bytes(one) == pytest.approx(index_memory_bytes(four))
    assert t(four) < t(one) / 3


def test_filtered_search_slows_down_but_never_beyond_an_exact_scan_of_the_matches() -> None:
    base = t(spec())
    mid = t(spec(selectivity=0.1))
    assert mid > base
    tiny = spec(selectivity=1e-4)
    exact = t(spec(kind="flat", num_vectors=100))
    assert t(tiny) == pytest.approx(exact)  # the pre-filter plan: scan the 100 matches


def test_gpu_batches_amortise_the_launch_and_need_a_gpu() -> None:
    s = spec(kind="cagra")
    assert t(s, batch=64) < 64 * t(s, batch=1)
    with pytest.raises(InputError, match="GPU"):
        search_time_s(s, 10)


def test_cagra_single_query_beats_cpu_hnsw_at_equal_effort() -> None:
    # CAGRA (ICDE 2024): single queries 3.4-53x faster than HNSW at 95 % recall
    ratio = t(spec(ef_search=64)) / t(spec(kind="cagra", ef_search=64))
    assert 1.5 < ratio < 60


@pytest.mark.parametrize(("kw", "field"), [
    ({"kind": "annoy"}, "index.type"), ({"dim": 0}, "index.dim"),
    ({"selectivity": 0.0}, "index.filter_selectivity"),
    ({"kind": "ivf_pq", "pq_bytes": 1024}, "index.pq_bytes"), ({"nlist": 0}, "index.nlist"),
])
def test_bad_parameters_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as err:
        spec(**kw)
    assert err.value.where == field


def test_bm25_grows_with_corpus_and_terms() -> None:
    assert bm25_time_s(10_000_000, 8) > bm25_time_s(1_000_000, 8) > bm25_time_s(1_000_000, 1)
