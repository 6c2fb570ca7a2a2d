"""The parts the framework is built from: lifecycle records, the queue view, the plugin chain."""

from __future__ import annotations

from typing import Any

from sched_builders import LAYOUT, cycle, job, make_fw

from gputwin.cluster import Ledger, Placement, take_snapshot
from gputwin.scheduling import (
    CycleResult,
    CycleState,
    PermitPlugin,
    Plugin,
    PluginArgs,
    PluginContext,
    QueuedJob,
    ReservePlugin,
    RunningJob,
    Status,
)
from gputwin.scheduling.lifecycle import Lifecycle
from gputwin.scheduling.permit_holds import PermitHolds
from gputwin.scheduling.plugin_chain import PluginChain

CTX = PluginContext(layout=LAYOUT, estimate_runtime=lambda j: j.fixed_duration_s or 0.0)


def _placement(node: int, gpus: int) -> Placement:
    return Placement(nodes=(node,), gpus=(gpus,), num_leaves=1, num_domains=1)


class _Recorder(Plugin):
    name = "test/recorder"

    def __init__(self) -> None:
        super().__init__(PluginArgs(), CTX)
        self.calls: list[tuple[Any, ...]] = []

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self.calls.append(("start", job.job_id, job.placement.nodes, now_s))

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        self.calls.append(("stop", job.job_id, now_s, preempted))

    def on_migrate(self, old: RunningJob, new: RunningJob, now_s: float) -> None:
        self.calls.append(("move", old.placement.nodes, new.placement.nodes, now_s))


def test_lifecycle_records_changes_bumps_version_and_calls_hooks() -> None:
    rec = _Recorder()
    life = Lifecycle([rec, Plugin(PluginArgs(), CTX)])  # the plain plugin has no hooks
    run = RunningJob(job("a", 4), _placement(0, 4), 1.0, 11.0)
    life.start(run, seq=1, now_s=1.0)
    assert life.runs.jobs == {"a": run} and life.runs.tenant_gpus == {"t": 4}
    life.move(run, _placement(2, 4), 2.0)
    assert run.placement.nodes == (2,) and life.runs.jobs["a"] is run
    life.finish("nobody", 3.0)  # not running: no change, no call
    assert life.version == 2
    life.preempt(run, 4.0)
    assert life.runs.jobs == {} and life.runs.ends == [] and life.runs.tenant_gpus == {}
    life.start(RunningJob(job("b", 2), _placement(1, 2), 5.0, 6.0), seq=2, now_s=5.0)
    life.finish("b", 6.0)
    assert life.version == 5
    assert rec.calls == [("start", "a", (0,), 1.0), ("move", (0,), (2,), 2.0),
                         ("stop", "a", 4.0, True), ("start", "b", (1,), 5.0),
                         ("stop", "b", 6.0, False)]


def test_queue_view_reads_the_waiting_queue() -> None:
    fw = make_fw("priority")
    fw.submit(job("low", 16, priority=0), 0.0)
    fw.submit(job("high", 8, priority=5), 0.0)
    seen = fw.last_seq
    fw.submit(job("later", 64), 1.0)  # the whole cluster: waits behind the first two
    queue = fw.queue
    assert [q.job_id for q in queue.jobs()] == ["low", "high", "later"]
    assert [q.job_id for q in queue.after(seen)] == ["later"]
    assert queue.job("high") is queue.jobs()[1] and queue.job("nope") is None
    assert queue.smallest_request() == 8 and queue.num_shaped == 0 and queue.num_share == 0
    assert queue.order_due(0.0)
    cycle(fw, Ledger(LAYOUT), 1.0)  # the other two start; the 64-GPU job cannot
    assert [q.job_id for q in queue.jobs()] == ["later"]
    assert queue.at(0) is queue.job("later") and queue.position(queue.at(0)) == 0
    assert queue.order_epoch == 1.0 and queue.smallest_request() == 64


def test_queue_view_walk_flags_follow_the_profile_and_holds() -> None:
    fifo = make_fw("fifo")
    assert fifo.queue.keyed_order and fifo.queue.static_walk
    fifo._holds.held.add("someone")  # a permit hold makes the walk depend on the clock
    assert fifo.queue.keyed_order and not fifo.queue.static_walk
    defrag = make_fw("defrag")  # a post-filter may send a started job back
    assert not defrag.queue.keyed_order and not defrag.queue.static_walk
    assert not make_fw("drf").queue.keyed_order  # a custom (whole-queue) order


class _Log(ReservePlugin):
    name = "reserve/test-log"

    def __init__(self, tag: str, log: list[str], ok: bool = True) -> None:
        super().__init__(PluginArgs(), CTX)
        self.tag, self.log, self.ok = tag, log, ok

    def reserve(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        self.log.append(f"reserve {self.tag}")
        return Status() if self.ok else Status.unschedulable("no")

    def unreserve(self, job: QueuedJob, placement: Placement, state: CycleState) -> None:
        self.log.append(f"unreserve {self.tag}")


class _Deny(PermitPlugin):
    name = "permit/test-deny"

    def permit(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        return Status.unschedulable("denied")


def _state() -> CycleState:
    snapshot = take_snapshot(Ledger(LAYOUT))
    return CycleState(now_s=0.0, snapshot=snapshot, free=snapshot.free.copy(),
                      free_total=snapshot.free_total, running={}, tenant_gpus={},
                      result=CycleResult())


def _queued(job_id: str, gpus: int) -> QueuedJob:
    return QueuedJob(spec=job(job_id, gpus), seq=1, enqueue_s=0.0, est_runtime_s=10.0)


def test_plugin_chain_admit_undoes_reservations_in_reverse_when_a_permit_denies() -> None:
    log: list[str] = []
    plugins = make_fw("fifo").plugins
    plugins.reserve = [_Log("a", log), _Log("b", log)]
    plugins.permit = [_Deny(PluginArgs(), CTX)]
    chain = PluginChain(plugins, CTX, PermitHolds())
    state = _state()
    status = chain.admit(_queued("x", 8), _placement(0, 8), state)
    assert not status.ok and status.reason == "denied"
    assert log == ["reserve a", "reserve b", "unreserve b", "unreserve a"]
    assert state.free_total == 64  # nothing taken
    log.clear()
    plugins.reserve = [_Log("a", log), _Log("b", log, ok=False)]
    plugins.permit = []
    assert not chain.admit(_queued("y", 8), _placement(0, 8), state).ok
    assert log == ["reserve a", "reserve b", "unreserve a"]


def test_plugin_chain_places_then_admit_takes_the_placement() -> None:
    chain = PluginChain(make_fw("fifo").plugins, CTX, PermitHolds())
    state = _state()
    status, placement = chain.place(_queued("big", 128), state)
    assert placement is None and status.reason == "needs 128 GPUs, 64 free"
    status, placement = chain.place(_queued("g", 16), state)
    assert status.ok and placement is not None and placement.num_gpus == 16
    assert state.free_total == 64  # a dry run
    assert chain.admit(_queued("g", 16), placement, state).ok
    assert state.free_total == 48
    assert int(state.free.sum()) == 48
