"""Scheduling policies (queue order + gang placement) behind a small interface."""

from gputwin.scheduling.base import Decision, Rejection, Scheduler
from gputwin.scheduling.fifo import FifoScheduler
from gputwin.scheduling.placement import PLACERS, Placer, first_fit, leaf_pack

__all__ = [
    "PLACERS",
    "Decision",
    "FifoScheduler",
    "Placer",
    "Rejection",
    "Scheduler",
    "first_fit",
    "leaf_pack",
]
