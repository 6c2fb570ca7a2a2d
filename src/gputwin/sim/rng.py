"""Seeded randomness: one seed per run, independent named streams.

``RandomStreams(seed).stream("arrivals")`` is a :class:`numpy.random.Generator` seeded from
``SeedSequence([seed, stable_hash("arrivals")])``. Each name gets its own stream, so adding
or using a new stream never changes the numbers another stream draws, and the result is
identical across processes and machines (``zlib.crc32`` instead of the salted ``hash()``).
"""

from __future__ import annotations

import zlib

import numpy as np

from gputwin.errors import InputError


def stable_hash(name: str) -> int:
    """A 32-bit hash of ``name`` that is the same in every process (CRC-32 of UTF-8)."""
    return zlib.crc32(name.encode("utf-8"))


class RandomStreams:
    """Named, independently seeded random streams for one run.

    Raises :class:`InputError` for a negative or non-integer seed.
    """

    __slots__ = ("_streams", "seed")

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        self._streams: dict[str, np.random.Generator] = {}

    def stream(self, name: str) -> np.random.Generator:
        """The generator for ``name`` (created on first use, then the same object)."""
        gen = self._streams.get(name)
        if gen is None:
            gen = np.random.Generator(
                np.random.PCG64(np.random.SeedSequence([self.seed, stable_hash(name)]))
            )
            self._streams[name] = gen
        return gen

    def fresh(self, name: str) -> np.random.Generator:
        """A new generator for ``name`` starting from the beginning of its stream."""
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, stable_hash(name)]))
        )
