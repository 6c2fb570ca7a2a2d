"""Built-in plugins; importing this package registers them (see docs/scheduling.md)."""

from gputwin.scheduling.plugins import nodes, preemption, queueing, sorting

__all__ = ["nodes", "preemption", "queueing", "sorting"]
