"""Global routers: pick the replica a request goes to.

- ``round_robin``: in turn.
- ``least_outstanding``: fewest waiting + running requests (ties: lowest index).
- ``kv_aware``: lowest KV pressure = (blocks in use + blocks the queue will need) / blocks.
- ``prefix_affinity``: consistent hashing (CRC-32 ring, 64 virtual nodes per replica) of
  the session id, else the first prefix block id, else the request id; with bounded load
  (a replica with more than ``(1 + ε)·mean + 1`` outstanding requests is skipped, walking
  the ring), so hot prefixes cannot melt one replica.

A router sees only replicas that accept new requests (not draining, provisioned).
"""

from __future__ import annotations

import bisect
import operator
import zlib
from collections.abc import Sequence
from typing import Protocol

from gputwin.errors import InputError
from gputwin.serving.engine import Replica
from gputwin.workload.llm_request import LlmRequest

_OUTSTANDING = operator.attrgetter("outstanding")
ROUTERS = ("round_robin", "least_outstanding", "kv_aware", "prefix_affinity")


class Router(Protocol):
    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica: ...


class RoundRobin:
    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica:
        rep = replicas[self._next % len(replicas)]
        self._next += 1
        return rep


class LeastOutstanding:
    __slots__ = ()

    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica:
        return min(replicas, key=_OUTSTANDING)  # first of the least loaded


class KvAware:
    __slots__ = ()

    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica:
        best = replicas[0]
        best_score = float("inf")
        for rep in replicas:
            total = rep.pool.num_blocks
            queued = rep.waiting_prompt_tokens / rep.bs
            score = (rep.kv_used_blocks_at(now_s) + queued) / total
            if score < best_score:
                best, best_score = rep, score
        return best


class PrefixAffinity:
    """Consistent hashing with bounded load (ε = ``load_slack``)."""

    __slots__ = ("_ids", "_ring", "_vnodes", "load_slack")

    def __init__(self, load_slack: float = 0.25, vnodes: int = 64) -> None:
        self.load_slack = load_slack
        self._vnodes = vnodes
        self._ring: list[tuple[int, int]] = []
        self._ids: tuple[int, ...] = ()

    def _rebuild(self, replicas: Sequence[Replica]) -> None:
        self._ids = tuple(r.id for r in replicas)
        self._ring = sorted((zlib.crc32(f"{r.name}#{v}".encode()), i)
                            for i, r in enumerate(replicas) for v in range(self._vnodes))

    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica:
        if tuple(r.id for r in replicas) != self._ids:
            self._rebuild(replicas)
        if req.session_id is not None:
            key = f"s{req.session_id}"
        elif req.prefix_hashes:
            key = f"p{req.prefix_hashes[0]}"
        else:
            key = f"r{req.request_id}"
        point = zlib.crc32(key.encode())
        ring = self._ring
        start = bisect.bisect_left(ring, (point, -1)) % len(ring)
        mean = sum(r.num_outstanding for r in replicas) / len(replicas)
        bound = (1.0 + self.load_slack) * mean + 1.0
        for step in range(len(ring)):
            rep = replicas[ring[(start + step) % len(ring)][1]]
            if rep.num_outstanding <= bound:
                return rep
        return replicas[ring[start][1]]


def make_router(name: str) -> Router:
    """A router by name; raises :class:`InputError` for unknown names."""
    if name == "round_robin":
        return RoundRobin()
    if name == "least_outstanding":
        return LeastOutstanding()
    if name == "kv_aware":
        return KvAware()
    if name == "prefix_affinity":
        return PrefixAffinity()
    raise InputError(f"unknown router {name!r}; expected one of {', '.join(ROUTERS)}")
