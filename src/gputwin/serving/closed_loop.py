"""Closed-loop clients: a fixed number of users, each sending its next request when the
previous one completes (benchmark clients with a maximum concurrency: ``vllm bench serve
--max-concurrency``, LLMPerf's concurrent requests, genai-perf ``--concurrency``).

A group of ``concurrency`` clients owns the requests marked with its index
(``LlmRequest.closed_loop``), sent in request order: ``concurrency`` of them at t = 0,
then one each time a request of the group finishes or is dropped, after ``think_s``.
A request's arrival time is the moment its client sends it, so TTFT and end-to-end
latency count from there. Open-loop requests of the same run keep their own arrival
times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gputwin.errors import InputError
from gputwin.workload.llm_request import LlmRequest


@dataclass(frozen=True, slots=True)
class ClosedLoop:
    """One client group: how many requests it keeps in flight, and the pause between a
    completion and the next send."""

    concurrency: int
    think_s: float = 0.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise InputError(f"concurrency must be >= 1, got {self.concurrency}")
        if not self.think_s >= 0:
            raise InputError(f"think time must be >= 0 s, got {self.think_s}")


class ClosedLoopClients:
    """The pending requests of every group; ``send(i, at_s)`` puts request ``i`` on the
    kernel (the fleet's arrival of a closed-loop request)."""

    def __init__(self, requests: Sequence[LlmRequest], loops: Mapping[int, ClosedLoop],
                 send: Callable[[int, float], None]) -> None:
        self.loops = dict(loops)
        self.pending: dict[int, deque[int]] = {g: deque() for g in self.loops}
        self.open_indices: list[int] = []
        for i, r in enumerate(requests):
            group = r.closed_loop
            if group < 0:
                self.open_indices.append(i)
            elif group in self.pending:
                self.pending[group].append(i)
            else:
                raise InputError(f"request {r.request_id} names closed-loop group {group}, "
                                 f"which has no clients (groups: {sorted(self.loops)})")
        self._send = send

    @property
    def busy(self) -> bool:
        """Whether any group still has requests to send."""
        return any(self.pending.values())

    def start(self) -> None:
        """Every group's first ``concurrency`` requests, at t = 0."""
        for group, loop in self.loops.items():
            queue = self.pending[group]
            for _ in range(min(loop.concurrency, len(queue))):
                self._send(queue.popleft(), 0.0)

    def completed(self, spec: LlmRequest, now_s: float) -> None:
        """A request finished or was dropped: its client sends the group's next one."""
        group = spec.closed_loop
        if group < 0:
            return
        queue = self.pending[group]
        if queue:
            self._send(queue.popleft(), now_s + self.loops[group].think_s)
