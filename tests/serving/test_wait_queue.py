"""The waiting queue of a replica's scheduler: order, front insertion, backlog."""

from __future__ import annotations

from gputwin.serving.request import ReqState
from gputwin.serving.wait_queue import WaitQueue
from gputwin.workload.llm_request import LlmRequest


def _req(rid: int, arrival_s: float, prompt: int, priority: int = 0) -> ReqState:
    spec = LlmRequest(rid, arrival_s, prompt, 10, priority=priority)
    return ReqState(spec, 10, num_tokens=prompt)


def test_fcfs_order_front_insertion_and_backlog() -> None:
    q = WaitQueue(priority=False)
    a, b, c = _req(0, 0.0, 100), _req(1, 1.0, 200), _req(2, 2.0, 300)
    q.push(a, front=False)
    q.push(b, front=False)
    c.computed = 50  # a preempted request keeps what it computed (swap)
    q.push(c, front=True)
    assert q.size() == 3 and q.nonempty()
    assert q.prompt_tokens == 100 + 200 + 250
    assert q.in_order() == [c, a, b]
    assert q.size() == 3  # in_order leaves the queue as it is
    assert [q.pop(), q.pop()] == [c, a]
    assert q.prompt_tokens == 200
    assert q.pop() is b and not q.nonempty() and q.prompt_tokens == 0


def test_priority_order_ignores_front() -> None:
    q = WaitQueue(priority=True)
    low, urgent, urgent_later = _req(0, 0.0, 10, 5), _req(1, 3.0, 10, 0), _req(2, 4.0, 10, 0)
    for r in (low, urgent_later, urgent):
        q.push(r, front=r is low)  # a preempted request keeps its place by its keys
    assert q.heap[0][3] is urgent  # the head the scheduler reads directly
    assert q.in_order() == [urgent, urgent_later, low]
    assert [q.pop() for _ in range(3)] == [urgent, urgent_later, low]
    assert q.size() == 0 and q.prompt_tokens == 0
