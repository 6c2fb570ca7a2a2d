"""The block pool's error (its own module: :mod:`.kv_cache` compiles with mypyc, which
does not compile subclasses of built-in exceptions)."""

from __future__ import annotations


class KvCacheError(RuntimeError):
    """A bug: the engine asked for more blocks than are free, or freed unknown blocks."""
