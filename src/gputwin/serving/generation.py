"""Image/video generation replicas: a queue per service, batches of one shape, fixed time.

A generation request asks for one sample of ``(frames, height, width, steps)``. Each
service has ``replicas`` identical replicas (``gpus_per_replica`` GPUs each, sequence
parallel) pulling from one FIFO queue (a central queue: a free replica takes the oldest
request). A replica batches the oldest waiting request with up to ``max_batch - 1`` more
of the *same shape* (batching by resolution: no padding, every sample runs the same
steps), runs the batch for ``batch_time_s(shape, batch)`` seconds (the diffusion model,
:func:`gputwin.perf.diffusion.estimate_generation`) and delivers all of it at the end.
Separate from the LLM engine (:mod:`gputwin.serving.engine`): a diffusion step has no KV
cache, no prefill/decode split and no token streaming.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gputwin.sim.kernel import Simulator

Shape = tuple[int, int, int, int]  # frames, height, width, steps


@dataclass(slots=True)
class GenRequest:
    request_id: int
    service: str
    arrival_s: float
    shape: Shape
    video_s: float  # seconds of video it asks for (0 for an image)
    start_s: float = math.nan
    end_s: float = math.nan
    replica: int = -1
    batch: int = 0


@dataclass(frozen=True, slots=True)
class GenService:
    name: str
    replicas: int
    gpus_per_replica: int
    max_batch: int
    batch_time_s: Callable[[Shape, int], float]


@dataclass(slots=True)
class GenReplica:
    service: str
    replica_id: int
    gpus: int
    busy_s: float = 0.0
    num_batches: int = 0
    busy_until_s: float = 0.0


@dataclass(slots=True)
class GenerationRun:
    requests: list[GenRequest]
    replicas: list[GenReplica]
    end_s: float
    _queues: dict[str, deque[GenRequest]] = field(default_factory=dict)


def _take_batch(queue: deque[GenRequest], max_batch: int) -> list[GenRequest]:
    head = queue.popleft()
    batch = [head]
    if max_batch > 1:
        keep: deque[GenRequest] = deque()
        while queue and len(batch) < max_batch:
            r = queue.popleft()
            (batch if r.shape == head.shape else keep).append(r)
        keep.extend(queue)
        queue.clear()
        queue.extend(keep)
    return batch


def simulate_generation(services: Sequence[GenService], requests: Sequence[GenRequest], *,
                        horizon_s: float | None = None) -> GenerationRun:
    """Run the requests through the services' replicas (module docstring). Requests not
    delivered by ``horizon_s`` keep ``end_s = nan``."""
    sim = Simulator()
    by_name = {s.name: s for s in services}
    queues: dict[str, deque[GenRequest]] = {s.name: deque() for s in services}
    idle: dict[str, list[GenReplica]] = {}
    replicas: list[GenReplica] = []
    for s in services:
        reps = [GenReplica(s.name, len(replicas) + i, s.gpus_per_replica)
                for i in range(s.replicas)]
        replicas.extend(reps)
        idle[s.name] = list(reversed(reps))  # pop() takes the lowest id first

    def dispatch(name: str) -> None:
        svc, queue, free = by_name[name], queues[name], idle[name]
        while queue and free:
            rep = free.pop()
            batch = _take_batch(queue, svc.max_batch)
            dt = svc.batch_time_s(batch[0].shape, len(batch))
            for r in batch:
                r.start_s, r.replica, r.batch = sim.now, rep.replica_id, len(batch)
            rep.busy_s += dt
            rep.num_batches += 1
            rep.busy_until_s = sim.now + dt
            sim.schedule_in(dt, functools.partial(finish, batch, rep))

    def finish(batch: list[GenRequest], rep: GenReplica) -> None:
        for r in batch:
            r.end_s = sim.now
        idle[rep.service].append(rep)
        dispatch(rep.service)

    def arrive(r: GenRequest) -> None:
        queues[r.service].append(r)
        dispatch(r.service)

    for r in sorted(requests, key=lambda q: (q.arrival_s, q.request_id)):
        sim.schedule_at(r.arrival_s, functools.partial(arrive, r))
    sim.run(until_s=horizon_s)
    end = sim.now if horizon_s is None else horizon_s
    for rep in replicas:  # a batch still running at the horizon counts up to it
        rep.busy_s -= max(0.0, rep.busy_until_s - end)
    return GenerationRun(list(requests), replicas, end, queues)
