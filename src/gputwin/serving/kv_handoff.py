"""Disaggregated serving's hand-off: a prefill replica's finished prompt travels to a
decode replica.

When a prefill-only replica produces a request's first token, the request's KV cache is
sent to its service's decode pool: the transfer takes the service's ``kv_transfer_s`` of
the prompt length, and the prefill replica keeps the prompt's KV blocks until it
completes (the KV is read out of them; SGLang/vLLM free them on the transfer's
completion), so a slow fabric throttles prefill admission. The request then resumes on a
decode replica with its prompt already computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gputwin.serving.engine import Replica
from gputwin.serving.request import ReqState

if TYPE_CHECKING:
    from gputwin.serving.fleet import Fleet


class KvHandoff:
    """The requests whose KV cache is in transit, and the prefill blocks they hold."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._held: dict[int, tuple[Replica, int]] = {}  # request id -> blocks held

    def start(self, req: ReqState, replica: Replica, now_s: float) -> None:
        """``replica`` (prefill-only) produced ``req``'s first token at ``now_s``."""
        fleet = self.fleet
        service = fleet.services[req.spec.service]
        assert service.kv_transfer_s is not None
        req.prefill_replica = replica.id
        req.status = 0
        req.computed = req.spec.num_prompt_tokens
        req.num_tokens = req.computed + 1
        req.finish_s = None
        fleet.in_transit += 1
        self._hold(replica, req)
        delay = service.kv_transfer_s(req.spec.num_prompt_tokens)
        fleet.arrive_at(now_s + delay, lambda: self._arrive(req))  # hand-offs arrive like requests

    def _hold(self, replica: Replica, req: ReqState) -> None:
        """Keep the prompt's KV blocks on the prefill replica while they are transferred
        (the engine released them at the first token; take them back as anonymous
        blocks: occupancy is right, cached prefix blocks stay hittable)."""
        pool = replica.pool
        n = min(pool.num_free, replica.sched.sequence_blocks(req.spec.num_prompt_tokens + 1))
        if n > 0:
            pool.take(n)
            self._held[req.spec.request_id] = (replica, n)

    def _arrive(self, req: ReqState) -> None:
        fleet = self.fleet
        fleet.in_transit -= 1
        now = fleet.sim.now
        held = self._held.pop(req.spec.request_id, None)
        if held is not None:
            rep, n = held
            rep.blocks_returned(n, now)
        fleet.route_to_decode(req, now)
