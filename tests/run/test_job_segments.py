"""A job's segment accounting (run/job_state.close_segment) and speed changes
(run/job_speed.JobSpeeds), on their own: work kept and lost, energy, paused completions."""

from __future__ import annotations

import pytest

from gputwin.cluster.ledger import Placement
from gputwin.run.job_speed import JobSpeeds
from gputwin.run.job_state import STALLED_S, JobState, close_segment
from gputwin.sim.kernel import EventHandle, Simulator
from gputwin.training.runtime import RunPlan
from gputwin.workload.job import JobSpec

PLACEMENT = Placement(nodes=(0,), gpus=(8,), num_leaves=1, num_domains=1)


def _running(start_s: float = 0.0) -> JobState:
    """A job on 8 GPUs: 10 s start-up, then 100 s of training drawing 1 MJ."""
    spec = JobSpec(job_id="j", kind="training", tenant="t", model="m", num_gpus=8,
                   submit_time_s=0.0, fixed_duration_s=110.0)
    state = JobState(spec, status="running", placement=PLACEMENT,
                     plan=RunPlan(duration_s=110.0, startup_s=10.0, energy_j=1e6))
    state.seg_start_s = state.mark_s = start_s
    return state


def _never() -> float | None:
    raise AssertionError("the checkpoint interval is not needed here")


def test_an_interrupted_segment_keeps_the_work_up_to_its_last_checkpoint() -> None:
    state = _running()
    left = close_segment(state, 70.0, done=False, checkpoint_now=False, durable_s=None,
                         interval_s=lambda: 25.0)
    # 60 s trained, checkpoints every 25 s: 50 s kept, 20 s of the 70 s held lost
    assert state.kept_s == 50.0
    assert state.held_s == 70.0 and state.gpu_s == 8 * 70.0
    assert state.lost_gpu_s == 8 * 20.0
    assert left == pytest.approx(0.5)
    assert state.energy_j == pytest.approx(1e6 * 60 / 100)


def test_a_durable_checkpoint_bounds_the_work_kept() -> None:
    state = _running()
    left = close_segment(state, 70.0, done=False, checkpoint_now=False, durable_s=30.0,
                         interval_s=_never)
    assert state.kept_s == 30.0 and left == pytest.approx(0.7)


def test_a_finished_or_checkpointed_segment_loses_nothing() -> None:
    done = _running()
    assert close_segment(done, 110.0, done=True, checkpoint_now=False, durable_s=None,
                         interval_s=_never) == pytest.approx(0.0)
    assert done.lost_gpu_s == 0.0 and done.kept_s == 100.0
    suspended = _running()
    assert close_segment(suspended, 60.0, done=False, checkpoint_now=True, durable_s=None,
                         interval_s=_never) == pytest.approx(0.5)
    assert suspended.lost_gpu_s == 8 * 10.0  # the start-up is not kept


def _speeds(state: JobState) -> tuple[JobSpeeds, list[float]]:
    sim = Simulator()
    ends: list[float] = []

    def complete_at(job: JobSpec, at_s: float) -> EventHandle:
        ends.append(at_s)
        return sim.schedule_at(at_s, lambda: None, 0)

    state.handle = complete_at(state.spec, 110.0)
    return JobSpeeds(sim, {"j": state}, None, complete_at), ends


def test_a_slower_job_ends_later_and_a_paused_one_waits() -> None:
    state = _running()
    speeds, ends = _speeds(state)
    assert speeds.set_speed("j", 0.5, 0.8, "power_cap")
    assert ends[-1] == pytest.approx(10.0 + 100.0 / 0.5)
    assert speeds.pause("j") and not speeds.pause("j")  # already paused
    assert ends[-1] == pytest.approx(10.0 + STALLED_S)
    # a speed set while paused waits for the resume
    assert not speeds.set_speed("j", 1.0, 1.0, "power_cap")
    speeds.resume("j")
    assert (state.speed_frac, state.power_frac) == (1.0, 1.0)
    assert ends[-1] == pytest.approx(110.0)
    assert speeds.time_at_work_s("j", 40.0) == pytest.approx(50.0)
