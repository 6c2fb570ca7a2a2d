"""Paged KV cache of one replica: a block pool with prefix caching by block keys.

Blocks are counted, not named, except *keyed* blocks: full prompt blocks whose content is
identified by a chained prefix key (see :mod:`gputwin.serving.request`). A keyed block
with a reference count > 0 is *active*; when its last user frees it, it stays cached in
an LRU of free blocks and can be hit again until a fresh allocation evicts it (the oldest
first). Free capacity = uncached free blocks + cached free blocks.

Invariant (property-tested): ``0 <= used <= num_blocks`` and the pool never hands out a
block it does not have — :meth:`take` raises :class:`KvCacheError` instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from gputwin.serving.kv_errors import KvCacheError

__all__ = ["BlockPool", "KvCacheError"]


class BlockPool:
    """Block accounting for one replica (``num_blocks`` blocks of ``block_size`` tokens)."""

    __slots__ = ("_active", "_lru", "block_size", "free_uncached", "num_blocks",
                 "num_evictions", "num_free", "num_hit_blocks")

    def __init__(self, num_blocks: int, block_size: int) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"need num_blocks >= 1 and block_size >= 1, got {num_blocks}, "
                             f"{block_size}")
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.free_uncached = num_blocks
        #: blocks a fresh allocation may take (uncached free + evictable cached); a plain
        #: attribute kept in step with both (read on every engine step)
        self.num_free = num_blocks
        self._active: dict[int, int] = {}  # key -> reference count (> 0)
        self._lru: OrderedDict[int, None] = OrderedDict()  # cached free keyed blocks
        self.num_evictions = 0
        self.num_hit_blocks = 0

    # -- capacity ------------------------------------------------------------------
    @property
    def num_used(self) -> int:
        return self.num_blocks - self.num_free

    @property
    def num_cached_free(self) -> int:
        return len(self._lru)

    # -- anonymous blocks -------------------------------------------------------------
    def take(self, n: int) -> None:
        """Allocate ``n`` fresh blocks, evicting the least recently freed cached blocks."""
        if n <= 0:
            return
        if n > self.num_free:
            raise KvCacheError(f"asked for {n} blocks, {self.num_free} free")
        self.num_free -= n
        short = n - self.free_uncached
        if short > 0:
            lru = self._lru
            for _ in range(short):
                lru.popitem(last=False)
            self.num_evictions += short
            self.free_uncached = 0
        else:
            self.free_uncached -= n

    def give(self, n: int) -> None:
        """Return ``n`` anonymous blocks."""
        if n < 0 or self.num_free + n > self.num_blocks:
            raise KvCacheError(f"freeing {n} blocks would exceed the pool")
        self.free_uncached += n
        self.num_free += n

    # -- keyed (prefix-cached) blocks ---------------------------------------------------
    def lookup(self, keys: list[int], limit: int) -> tuple[int, int]:
        """(number of leading ``keys[:limit]`` that are cached, how many of them are free).

        Does not change anything (the caller decides whether to :meth:`acquire`)."""
        active, lru = self._active, self._lru
        hits = in_lru = 0
        for key in keys[:limit]:
            if key in active:
                hits += 1
            elif key in lru:
                hits += 1
                in_lru += 1
            else:
                break
        return hits, in_lru

    def acquire(self, keys: list[int]) -> None:
        """Take a reference on each cached block in ``keys`` (they must all be cached)."""
        active, lru = self._active, self._lru
        for key in keys:
            count = active.get(key)
            if count is not None:
                active[key] = count + 1
            else:
                if key not in lru:
                    raise KvCacheError(f"block key {key} is not cached")
                del lru[key]
                active[key] = 1
                self.num_free -= 1
        self.num_hit_blocks += len(keys)

    def register(self, key: int) -> bool:
        """Turn one of the caller's used anonymous blocks into cached block ``key``.

        Returns False (block stays anonymous) when ``key`` is already cached."""
        if key in self._active or key in self._lru:
            return False
        self._active[key] = 1
        return True

    def register_prefix(self, keys: list[int], held: list[int] | tuple[int, ...],
                        full: int) -> list[int] | tuple[int, ...]:
        """A request computed its first ``full`` prompt blocks (keys ``keys[:full]``) and
        holds ``held`` (a prefix of ``keys``) cached: register the blocks after those, in
        order, until one is cached already (ours stays anonymous). Returns what it holds."""
        start = len(held)
        if start >= full:
            return held
        registered = held if isinstance(held, list) else list(held)
        for j in range(start, full):
            if not self.register(keys[j]):
                break
            registered.append(keys[j])
        return registered

    def release(self, keys: Sequence[int]) -> None:
        """Drop one reference on each keyed block; unreferenced ones become cached-free.

        ``keys`` are released in reverse so a request's tail blocks are evicted first."""
        active, lru = self._active, self._lru
        for key in reversed(keys):
            count = active.get(key)
            if count is None:
                raise KvCacheError(f"block key {key} is not held")
            if count > 1:
                active[key] = count - 1
            else:
                del active[key]
                lru[key] = None
                self.num_free += 1

    def check(self) -> None:
        """Raise :class:`KvCacheError` if the accounting is inconsistent (tests)."""
        if not 0 <= self.free_uncached <= self.num_blocks:
            raise KvCacheError(f"free_uncached {self.free_uncached} out of range")
        if self.num_used < len(self._active):
            raise KvCacheError("more active keyed blocks than used blocks")
        if self.num_free > self.num_blocks:
            raise KvCacheError("more free blocks than blocks")
        if self.num_free != self.free_uncached + len(self._lru):
            raise KvCacheError(f"num_free {self.num_free} != uncached free "
                               f"{self.free_uncached} + cached free {len(self._lru)}")
