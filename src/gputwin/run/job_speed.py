"""Speed changes of running jobs in a cluster run.

Power caps, stragglers and fabric contention (*sources*) each hold a job at a fraction of
its speed and power; the job runs at the product over sources (:func:`combine_speed`) and
its completion moves (:func:`rebase`). A checkpoint (or a node swap) pauses a job at speed
0 with its GPUs held; the speeds set meanwhile apply when it resumes.
"""

from __future__ import annotations

from collections.abc import Callable

from gputwin.run.energy_accounting import EnergyRecorder
from gputwin.run.job_state import JobState, combine_speed, rebase, time_at_work_s
from gputwin.sim.kernel import EventHandle, Simulator
from gputwin.workload.job import JobSpec


class JobSpeeds:
    """Sets, pauses and resumes the speed of the jobs in ``states``; ``complete_at(job,
    at_s)`` puts a job's completion on the kernel."""

    def __init__(self, sim: Simulator, states: dict[str, JobState],
                 energy: EnergyRecorder | None,
                 complete_at: Callable[[JobSpec, float], EventHandle]) -> None:
        self.sim, self.states, self.energy = sim, states, energy
        self._complete_at = complete_at

    def set_speed(self, job_id: str, throughput_frac: float, power_frac: float,
                  source: str) -> bool:
        """From now on ``source`` holds ``job_id`` at ``throughput_frac`` of its speed
        drawing ``power_frac`` of its power; False while a checkpoint stalls the job (the
        new speed applies when it resumes)."""
        state = self.states[job_id]
        speed, power = combine_speed(state, source, throughput_frac, power_frac)
        if state.paused_speed is not None:
            state.paused_speed = (speed, power)
            return False
        self._apply(state, speed, power)
        return True

    def pause(self, job_id: str) -> bool:
        """Stop ``job_id``'s training (its GPUs stay held, near idle); False when it was
        not running or already paused."""
        state = self.states[job_id]
        if state.paused_speed is None and state.status == "running":
            saved = (state.speed_frac, state.power_frac)
            self._apply(state, 0.0, 0.0)
            state.paused_speed = saved
            return True
        return False

    def resume(self, job_id: str) -> None:
        """Training goes on at the speed the job had (or was given while paused)."""
        state = self.states[job_id]
        saved, state.paused_speed = state.paused_speed, None
        if saved is not None and state.status == "running":
            self._apply(state, *saved)

    def time_at_work_s(self, job_id: str, work_s: float) -> float | None:
        """When ``job_id``'s training in this segment reaches ``work_s`` uncapped seconds at
        its current speed (after its start-up); ``None`` if it is not training now."""
        return time_at_work_s(self.states[job_id], self.sim.now, work_s)

    def _apply(self, state: JobState, throughput_frac: float, power_frac: float) -> None:
        plan = state.plan
        if state.status != "running" or state.handle is None or plan is None:
            return
        now = self.sim.now
        end_s = rebase(state, now, throughput_frac, power_frac)
        if self.energy is not None:  # accounting: training power changes from now
            self.energy.speed_change(state.spec.job_id, now, power_frac)
        self.sim.cancel(state.handle)
        state.handle = self._complete_at(state.spec, end_s)
