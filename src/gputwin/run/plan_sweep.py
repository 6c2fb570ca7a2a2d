"""Running independent tasks: serially, on a local process pool, or on a Ray cluster.

:func:`run_tasks` returns the results in task order whichever engine ran them, so the
three give identical answers (a test checks serial against the pool). Ray is an optional
extra (``pip install 'gputwin[ray]'``), imported only when ``ray_address`` is given;
``"local"`` starts a Ray instance on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from gputwin.errors import InputError

T = TypeVar("T")
Progress = Callable[[int, int], None]


def default_workers() -> int:
    """Worker processes when none are asked for: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Sweep:
    """An engine for several batches of tasks: the pool (or Ray) is started on first use
    and kept until the ``with`` block ends, so rounds of confirmations share it."""

    def __init__(self, workers: int | None = None, ray_address: str | None = None) -> None:
        self.workers = workers or default_workers()
        self.ray_address = ray_address
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Sweep:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[T], dict[str, Any]], tasks: Sequence[T],
            progress: Progress | None = None) -> list[dict[str, Any]]:
        """``[fn(t) for t in tasks]`` in task order (see :func:`run_tasks`)."""
        if not tasks:
            return []
        if self.ray_address is not None:
            return _ray(fn, tasks, self.ray_address, progress)
        if self.workers <= 1 or len(tasks) == 1:
            return _serial(fn, tasks, progress)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
        out: list[dict[str, Any] | None] = [None] * len(tasks)
        futures = {self._pool.submit(fn, t): i for i, t in enumerate(tasks)}
        for done, fut in enumerate(as_completed(futures), 1):
            out[futures[fut]] = fut.result()
            if progress is not None:
                progress(done, len(tasks))
        return [r for r in out if r is not None]


def run_tasks(fn: Callable[[T], dict[str, Any]], tasks: Sequence[T], *,
              workers: int | None = None, ray_address: str | None = None,
              progress: Progress | None = None) -> list[dict[str, Any]]:
    """``[fn(t) for t in tasks]``, on Ray when ``ray_address`` is given, else on up to
    ``workers`` local processes (serial in this process for one worker or one task)."""
    with Sweep(workers, ray_address) as sweep:
        return sweep.map(fn, tasks, progress)


def _serial(fn: Callable[[T], dict[str, Any]], tasks: Sequence[T],
            progress: Progress | None) -> list[dict[str, Any]]:
    out = []
    for i, t in enumerate(tasks, 1):
        out.append(fn(t))
        if progress is not None:
            progress(i, len(tasks))
    return out


def import_ray() -> Any:
    """The ``ray`` module, or :class:`InputError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed; pip install 'gputwin[ray]' (or drop "
                         "--ray-address to use the local process pool)",
                         where="--ray-address") from None
    return ray


def ray_init_args(address: str) -> dict[str, Any]:
    """``ray.init`` arguments: a local instance for ``"local"``; for a cluster, this
    gputwin package shipped to the workers (``py_modules``) so they run the same code
    (its dependencies — numpy, pydantic, PyYAML — must be installed there)."""
    args: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                            "ignore_reinit_error": True}
    if address == "local":
        return args
    import gputwin

    return {**args, "address": address,
            "runtime_env": {"py_modules": [str(Path(gputwin.__file__).parent)]}}


def _ray(fn: Callable[[T], dict[str, Any]], tasks: Sequence[T], address: str,
         progress: Progress | None) -> list[dict[str, Any]]:
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(**ray_init_args(address))
    remote = ray.remote(fn)
    refs = [remote.remote(t) for t in tasks]
    index = {ref: i for i, ref in enumerate(refs)}
    out: list[dict[str, Any] | None] = [None] * len(tasks)
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            out[index[ref]] = ray.get(ref)
        if progress is not None:
            progress(len(tasks) - len(pending), len(tasks))
    return [r for r in out if r is not None]
