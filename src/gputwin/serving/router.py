"""Global routers: pick the replica a request goes to. A registry of plugins.

Routers register by readable name, ``"router/<name>"`` (as the scheduling plugins do in
:mod:`gputwin.scheduling.registry`), each with typed arguments (a frozen pydantic model,
unknown keys rejected); duplicate names are rejected at import time. The scenario
schema's ``router:`` choices and the CLI's ``--router`` choices come from
:func:`router_names`. Built in:

- ``round_robin``: in turn.
- ``least_outstanding``: fewest waiting + running requests (ties: lowest index).
- ``kv_aware``: lowest KV pressure = (blocks in use + blocks the queue will need) / blocks.
- ``prefix_affinity``: consistent hashing (CRC-32 ring, ``vnodes`` virtual nodes per
  replica, default 64) of the session id, else the first prefix block id, else the
  request id; with bounded load (a replica with more than ``(1 + load_slack)·mean + 1``
  outstanding requests is skipped, walking the ring), so hot prefixes cannot melt one
  replica.

A router is named with its arguments as ``"prefix_affinity"`` or
``"prefix_affinity:load_slack=0.5,vnodes=32"`` (what a scenario's ``router: {name: ...,
load_slack: 0.5}`` becomes). A router sees only replicas that accept new requests (not
draining, provisioned).
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import Field, ValidationError

from gputwin.errors import InputError, UnknownNameError
from gputwin.input_model import InputModel
from gputwin.serving.engine import least_outstanding
from gputwin.workload.llm_request import LlmRequest

if TYPE_CHECKING:
    from gputwin.serving.engine import Replica

PREFIX = "router/"


class Router(Protocol):
    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica: ...


class RouterArgs(InputModel):
    """Base of every router's typed arguments (none by default)."""



class RouterPlugin:
    """Base class of registered routers: set ``name`` (``"router/<name>"``) and ``Args``."""

    name: ClassVar[str] = ""
    Args: ClassVar[type[RouterArgs]] = RouterArgs

    def __init__(self, args: RouterArgs) -> None:
        self.args = args

    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica:
        raise NotImplementedError


_REGISTRY: dict[str, type[RouterPlugin]] = {}
R = TypeVar("R", bound=type[RouterPlugin])


def register(cls: R) -> R:
    """Class decorator: add ``cls`` under ``cls.name``. Raises ``ValueError`` on a
    duplicate or malformed name (a programming error, found at import time)."""
    name = cls.name
    short = name.removeprefix(PREFIX)
    if not name.startswith(PREFIX) or not short or "/" in short or ":" in short:
        raise ValueError(f"router name {name!r} must be '{PREFIX}<name>'")
    if name in _REGISTRY:
        raise ValueError(f"router {name!r} is already registered")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a router (tests)."""
    _REGISTRY.pop(name if name.startswith(PREFIX) else PREFIX + name, None)


def router_names() -> tuple[str, ...]:
    """Short names of the registered routers, in registration order."""
    return tuple(n.removeprefix(PREFIX) for n in _REGISTRY)


def lookup(name: str, *, where: str | None = None) -> type[RouterPlugin]:
    """The router class for ``name`` (short or full); raises :class:`UnknownNameError`."""
    cls = _REGISTRY.get(name if name.startswith(PREFIX) else PREFIX + name)
    if cls is None:
        raise UnknownNameError("router", name, list(router_names()), where=where)
    return cls


def router_args(name: str, args: Mapping[str, Any] | None = None, *,
                where: str | None = None) -> RouterArgs:
    """``args`` validated against ``name``'s typed arguments; raises :class:`InputError`."""
    cls = lookup(name, where=where)
    try:
        return cls.Args.model_validate(dict(args or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}"
                             for e in exc.errors())
        raise InputError(f"router {name!r}: {problems}", where=where) from None


def router_spec(name: str, args: Mapping[str, Any] | None = None) -> str:
    """The one-string form ``"name:key=value,..."`` of a validated router choice."""
    given = router_args(name, args).model_dump(exclude_defaults=True)
    short = name.removeprefix(PREFIX)
    return short + (":" + ",".join(f"{k}={v}" for k, v in given.items()) if given else "")


def parse_router_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"name:key=value,..."`` → ``(name, {key: value})``; raises :class:`InputError`."""
    name, _, rest = spec.partition(":")
    args: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"router {spec!r}: expected 'name:key=value,...', got {item!r}")
        args[key.strip()] = value.strip()
    return name.strip(), args


def make_router(spec: str, args: Mapping[str, Any] | None = None) -> Router:
    """A router from ``"name"`` or ``"name:key=value,..."`` (plus ``args``); raises
    :class:`InputError` for unknown names or bad arguments."""
    name, parsed = parse_router_spec(spec)
    merged = {**parsed, **(args or {})}
    return lookup(name)(router_args(name, merged))


# ---- the built-in routers ------------------------------------------------------------
@register
class RoundRobin(RouterPlugin):
    name = "router/round_robin"

    def __init__(self, args: RouterArgs) -> None:
        super().__init__(args)
        self._next = 0

    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica:
        rep = replicas[self._next % len(replicas)]
        self._next += 1
        return rep


@register
class LeastOutstanding(RouterPlugin):
    name = "router/least_outstanding"

    def choose(self, req: LlmRequest, replicas: Sequence[Replica], now_s: float) -> Replica:
        return least_outstanding(replicas)  # the first of the least loaded


@register
class KvAware(RouterPlugin):
    name = "router/kv_aware"

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


class PrefixAffinityArgs(RouterArgs):
    load_slack: float = Field(default=0.25, ge=0.0,
                              description="ε: skip replicas above (1 + ε)·mean + 1 outstanding")
    vnodes: int = Field(default=64, ge=1, le=4096, description="virtual nodes per replica")


@register
class PrefixAffinity(RouterPlugin):
    """Consistent hashing with bounded load (ε = ``load_slack``)."""

    name = "router/prefix_affinity"
    Args = PrefixAffinityArgs

    def __init__(self, args: RouterArgs) -> None:
        super().__init__(args)
        assert isinstance(args, PrefixAffinityArgs)
        self.load_slack = args.load_slack
        self._vnodes = args.vnodes
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


#: The built-in routers' short names (the registry may hold more: :func:`router_names`).
ROUTERS = router_names()
