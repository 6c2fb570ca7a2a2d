"""Runs executed as Ray tasks (``gputwin server --ray-address``).

The worker process still claims the run, holds its lease and beats; only the execution
moves to the Ray cluster. The task reports its progress to a small actor, which the worker
polls every ``PROGRESS_EVERY_S`` through the run's progress writer: a cancellation or a
gone server (the writer raises :class:`~gputwin.server.worker.StopRun`) cancels the task.
An input error raised in the task arrives as the same :class:`InputError`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gputwin.errors import InputError
from gputwin.run.plan_sweep import import_ray, ray_init_args
from gputwin.server.execute import Outputs, execute

POLL_S = 0.25


class _ProgressBox:
    """Holds the latest progress fraction of one task (a Ray actor)."""

    def __init__(self) -> None:
        self.frac = 0.0

    def set(self, frac: float) -> None:
        self.frac = frac

    def get(self) -> float:
        return self.frac


def _run_task(kind: str, text: str, sets: Sequence[str], params: Mapping[str, Any],
              box: Any) -> Outputs:
    return execute(kind, text, sets, params, lambda frac: box.set.remote(frac))


@functools.cache
def _remotes(ray: Any) -> tuple[Any, Any]:
    return ray.remote(num_cpus=0)(_ProgressBox), ray.remote(_run_task)


def ray_executor(address: str) -> Callable[..., Outputs]:
    """An ``execute``-shaped function that runs each run as a task on ``address``
    (``local`` starts Ray on this machine). Raises InputError when Ray is absent."""
    ray = import_ray()

    def run(kind: str, text: str, sets: Sequence[str], params: Mapping[str, Any],
            progress: Callable[[float], None]) -> Outputs:
        if not ray.is_initialized():
            ray.init(**ray_init_args(address))
        box_cls, task = _remotes(ray)
        box = box_cls.remote()
        ref = task.remote(kind, text, list(sets), dict(params), box)
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_S)
                if ready:
                    return _result(ray, ref)
                progress(float(ray.get(box.get.remote())))
        except BaseException:
            ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(box)

    return run


def _result(ray: Any, ref: Any) -> Outputs:
    try:
        out = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, InputError):
            raise exc.cause from None
        raise
    if not isinstance(out, Outputs):
        raise TypeError(f"a Ray task returned {type(out).__name__}, expected Outputs")
    return out
