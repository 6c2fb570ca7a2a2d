"""The event kernel: simulated clock, ordered event queue, run loop, seeded streams.

Imports nothing above it (only :mod:`gputwin.errors`).
"""

from gputwin.sim.kernel import EventHandle, Observer, SimulationError, Simulator
from gputwin.sim.rng import RandomStreams, stable_hash

__all__ = [
    "EventHandle",
    "Observer",
    "RandomStreams",
    "SimulationError",
    "Simulator",
    "stable_hash",
]
