"""Block pool: never hands out more blocks than it has; prefix cache bookkeeping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.serving.kv_cache import BlockPool, KvCacheError


def test_take_beyond_capacity_raises_and_changes_nothing() -> None:
    pool = BlockPool(10, 16)
    pool.take(8)
    with pytest.raises(KvCacheError):
        pool.take(3)
    assert pool.num_used == 8 and pool.num_free == 2


def test_released_blocks_stay_cached_until_evicted_oldest_first() -> None:
    pool = BlockPool(4, 16)
    pool.take(3)
    for key in (1, 2, 3):
        assert pool.register(key)
    pool.release([1, 2, 3])  # tail (3) released first -> evicted first
    assert pool.num_free == 4 and pool.num_cached_free == 3
    assert pool.lookup([1, 2, 3], 3) == (3, 3)
    pool.take(2)  # 1 uncached + evicts the oldest cached (3)
    assert pool.lookup([1, 2, 3], 3) == (2, 2)
    pool.acquire([1, 2])
    assert pool.num_used == 4 and pool.num_free == 0


def test_shared_block_is_refcounted() -> None:
    pool = BlockPool(4, 16)
    pool.take(1)
    pool.register(7)
    pool.acquire([7])  # a second user
    pool.release([7])
    assert pool.num_cached_free == 0  # still held by the first user
    pool.release([7])
    assert pool.num_cached_free == 1


ops = st.lists(st.tuples(st.sampled_from(["take", "give", "reg", "rel", "acq"]),
                         st.integers(0, 12)), max_size=80)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_random_operations_never_over_allocate(seq: list[tuple[str, int]]) -> None:
    pool = BlockPool(16, 16)
    anon = 0
    held: list[int] = []
    for op, n in seq:
        if op == "take":
            if n <= pool.num_free:
                pool.take(n)
                anon += n
            else:
                with pytest.raises(KvCacheError):
                    pool.take(n)
        elif op == "give" and anon:
            k = min(n, anon)
            pool.give(k)
            anon -= k
        elif op == "reg" and anon and pool.register(100 + n):
            anon -= 1
            held.append(100 + n)
        elif op == "rel" and held:
            pool.release([held.pop()])
        elif op == "acq":
            hits, _ = pool.lookup([100 + n], 1)
            if hits:
                pool.acquire([100 + n])
                held.append(100 + n)
        pool.check()
        assert 0 <= pool.num_used <= pool.num_blocks
        assert pool.num_used == anon + len(set(held))
