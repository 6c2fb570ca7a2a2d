"""Framework fixes for partial GPUs (fractional shares, MIG slices) and plugin plumbing:
tenant bookkeeping of share-only jobs, required plugin args."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import Field

from gputwin.cluster import ClusterLayout, Ledger, take_snapshot
from gputwin.errors import InputError
from gputwin.scheduling import (
    BindPlugin,
    Framework,
    PluginArgs,
    PluginContext,
    PreFilterPlugin,
    RunningJob,
    build_framework,
    register,
    resolve_profile,
)
from gputwin.scheduling.registry import unregister
from gputwin.workload import JobSpec

UNIFORM = ClusterLayout(num_nodes=2, gpus_per_node=4, nodes_per_leaf=2)


def pod(job_id: str, gpus: int = 1, milli: int = 1000, *, tenant: str = "t",
        t: float = 0.0, mig: str | None = None) -> JobSpec:
    return JobSpec(job_id=job_id, kind="trace", tenant=tenant, model="unknown",
                   num_gpus=gpus, submit_time_s=t, fixed_duration_s=100.0, gpu_milli=milli,
                   mig_profile=mig)


class Sim:
    """A framework and a ledger driven by hand, as the simulator drives them."""

    def __init__(self, profile: str, layout: ClusterLayout = UNIFORM,
                 args: dict[str, dict[str, object]] | None = None,
                 gpu_type: str = "h100-sxm-80gb") -> None:
        ctx = PluginContext(layout=layout, estimate_runtime=lambda j: 100.0,
                            gpu_type=gpu_type)
        self.fw: Framework = build_framework(resolve_profile(profile, None, args), ctx)
        self.ledger = Ledger(layout)
        self.now = 0.0

    def cycle(self, *jobs: JobSpec, dt: float = 1.0) -> list[str]:
        self.now += dt
        for j in jobs:
            assert self.fw.submit(j, self.now) is None
        result = self.fw.schedule(self.now, take_snapshot(self.ledger))
        for p in result.preemptions:
            self.ledger.release(p.job.job_id)
            if p.migrate_to is not None:
                self.ledger.allocate(p.job.job_id, p.migrate_to)
        for d in result.starts:
            self.ledger.allocate(d.job.job_id, d.placement)  # raises on over-allocation
        return [d.job.job_id for d in result.starts]

    def finish(self, job_id: str) -> None:
        self.ledger.release(job_id)
        self.fw.finished(job_id, self.now)


# -- 1. tenant bookkeeping --------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["fgd", "bestfit", "gpu-packing"])
def test_share_only_job_ends_after_tenant_whole_count_reached_zero(profile: str) -> None:
    s = Sim(profile)
    assert sorted(s.cycle(pod("whole", 1, tenant="a"), pod("half", 1, 500, tenant="a"))) == [
        "half", "whole"]
    s.finish("whole")  # tenant a now holds no whole GPU
    s.finish("half")  # used to raise KeyError in Framework._forget_running
    assert s.fw.tenant_gpus.get("a", 0) == 0
    assert not s.fw.running


def test_tenant_gpus_count_whole_gpus_of_running_jobs() -> None:
    s = Sim("fgd")
    s.cycle(pod("w1", 2, tenant="a"), pod("f1", 1, 300, tenant="a"), pod("w2", 1, tenant="b"))
    assert s.fw.tenant_gpus == {"a": 2, "b": 1}
    s.finish("f1")
    assert s.fw.tenant_gpus == {"a": 2, "b": 1}
    s.finish("w1")
    s.finish("w2")
    assert s.fw.tenant_gpus == {}


# -- 7. required plugin args ------------------------------------------------------------------

class _NeedsArgs(PluginArgs):
    limit: int = Field(gt=0)  # required: no default


class _Limit(PreFilterPlugin):
    name = "pre-filter/test-required-arg"
    Args = _NeedsArgs


@pytest.fixture()
def required_arg_plugin() -> Iterator[None]:
    register(_Limit)
    yield
    unregister(_Limit.name)


def test_plugin_with_required_arg_builds_when_given(required_arg_plugin: None) -> None:
    resolved = resolve_profile("fifo", {"pre_filter": ["test-required-arg"]},
                               {"test-required-arg": {"limit": 3}})
    [(cls, args, _)] = resolved.lists["pre_filter"]
    assert cls is _Limit and isinstance(args, _NeedsArgs) and args.limit == 3


def test_plugin_with_required_arg_missing_is_an_input_error(required_arg_plugin: None) -> None:
    with pytest.raises(InputError, match="limit"):
        resolve_profile("fifo", {"pre_filter": ["test-required-arg"]})


# -- 2. share-aware capacity ------------------------------------------------------------------

ONE_NODE_2 = ClusterLayout(num_nodes=1, gpus_per_node=2, nodes_per_leaf=1)
ONE_GPU = ClusterLayout(num_nodes=1, gpus_per_node=1, nodes_per_leaf=1)


@pytest.mark.parametrize("profile", ["fgd", "bestfit", "gpu-packing"])
def test_fractional_pod_starts_when_every_gpu_is_partly_used(profile: str) -> None:
    s = Sim(profile, ONE_NODE_2)
    assert sorted(s.cycle(pod("a", 1, 600), pod("b", 1, 600))) == ["a", "b"]
    assert s.ledger.free_total == 0  # both GPUs carry a share: no whole GPU is free
    assert s.cycle(pod("c", 1, 300)) == ["c"]  # 400 milli are left on each GPU
    assert s.cycle(pod("d", 1, 500)) == []  # ... but not 500
    assert s.cycle(pod("e", 1, 1000)) == []  # nor a whole GPU


@pytest.mark.parametrize("profile", ["fgd", "bestfit", "gpu-packing"])
def test_more_shares_than_whole_free_gpus_start_in_one_cycle(profile: str) -> None:
    s = Sim(profile, ONE_GPU)
    assert sorted(s.cycle(*(pod(f"q{i}", 1, 250) for i in range(5)))) == [
        "q0", "q1", "q2", "q3"]  # four quarters of the single GPU; the fifth waits
    assert s.ledger.milli_used() == {(0, 0): 1000}


def test_seven_mig_slices_of_one_gpu_start_in_one_cycle() -> None:
    s = Sim("mig", ONE_GPU, {"mig": {"reconfiguration_time_s": 0.0}})
    jobs = [pod(f"m{i}", mig="1g.10gb") for i in range(8)]
    assert sorted(s.cycle(*jobs)) == [f"m{i}" for i in range(7)]  # H100: seven 1g slices
    assert len(s.ledger.mig_slices()[(0, 0)]) == 7
    assert s.fw.queue.jobs()[0].job_id == "m7"


def test_mig_pod_starts_when_every_gpu_has_busy_slices() -> None:
    s = Sim("mig", ONE_NODE_2, {"mig": {"reconfiguration_time_s": 0.0}})
    assert sorted(s.cycle(pod("a", mig="4g.40gb"), pod("b", mig="4g.40gb"))) == ["a", "b"]
    assert s.ledger.free_total == 0
    assert s.cycle(pod("c", mig="3g.40gb")) == ["c"]  # the other half of a GPU
    assert s.cycle(pod("d", mig="7g.80gb")) == []  # needs a whole GPU


def test_preempting_a_share_returns_its_gpu_only_when_empty() -> None:
    s = Sim("fgd", ONE_GPU)
    s.cycle(pod("a", 1, 500), pod("b", 1, 500))
    state = s.fw._state(s.now, take_snapshot(s.ledger))
    assert state.free_total == 0
    s.fw.preempt(s.fw.running["a"], state, "test")
    assert state.free_total == 0  # b still shares the GPU
    s.fw.preempt(s.fw.running["b"], state, "test")
    assert state.free_total == 1 and int(state.free[0]) == 1


# -- 3. best-effort skips by request shape ----------------------------------------------------

def test_failed_whole_gpu_pod_does_not_skip_a_mig_pod() -> None:
    # GPU 0 in MIG mode (idle), GPU 1 busy with a whole-GPU job: a 1-GPU whole pod cannot
    # start, a 1-GPU MIG pod can; the queue has the whole pod first.
    s = Sim("mig", ONE_NODE_2, {"mig": {"reconfiguration_time_s": 0.0,
                                        "mig_gpus_per_node": 1}})
    assert s.cycle(pod("busy", 1)) == ["busy"]
    assert s.cycle(pod("whole", 1, t=1.0), pod("slice", mig="1g.10gb", t=2.0)) == ["slice"]
    assert [q.job_id for q in s.fw.queue.jobs()] == ["whole"]


def test_failed_fractional_shape_skips_only_its_shape() -> None:
    s = Sim("gpu-packing", ONE_GPU)
    assert s.cycle(pod("a", 1, 700)) == ["a"]
    # 400 milli fails, 400 again is skipped, 300 still fits
    assert s.cycle(pod("b", 1, 400), pod("c", 1, 400), pod("d", 1, 300)) == ["d"]
    assert {q.job_id: q.reason for q in s.fw.queue.jobs()}["c"].startswith("no room")


# -- 4. migrations call the plugins' hooks ------------------------------------------------------

class _Mirror(BindPlugin):
    """Whole GPUs held per node, kept only from the start/stop (and migrate) hooks."""

    name = "bind/test-mirror"

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        self.used = [0] * ctx.layout.num_nodes
        self.starts = 0

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self.starts += 1
        for node, count in zip(job.placement.nodes, job.placement.gpus, strict=True):
            self.used[node] += count

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        for node, count in zip(job.placement.nodes, job.placement.gpus, strict=True):
            self.used[node] -= count


@pytest.fixture()
def mirror_plugin() -> Iterator[None]:
    register(_Mirror)
    yield
    unregister(_Mirror.name)


def test_migration_keeps_plugin_mirrors_in_step_with_the_ledger(mirror_plugin: None) -> None:
    layout = ClusterLayout(num_nodes=4, gpus_per_node=8, nodes_per_leaf=4)
    ctx = PluginContext(layout=layout, estimate_runtime=lambda j: 1000.0)
    fw = build_framework(resolve_profile("defrag", {"score": ["spread"],
                                                    "bind": ["test-mirror"]}), ctx)
    ledger = Ledger(layout)
    for i in range(4):  # spread: one 4-GPU job per node, 16 GPUs free but no whole node
        fw.submit(pod(f"s{i}", 4), 0.0)
    for d in fw.schedule(0.0, take_snapshot(ledger)).starts:
        ledger.allocate(d.job.job_id, d.placement)
    assert sorted(ledger.free_per_node()) == [4, 4, 4, 4]
    fw.submit(pod("gang", 16, t=1.0), 1.0)
    result = fw.schedule(1.0, take_snapshot(ledger))
    for p in result.preemptions:
        ledger.release(p.job.job_id)
        assert p.migrate_to is not None
        ledger.allocate(p.job.job_id, p.migrate_to)
    for d in result.starts:
        ledger.allocate(d.job.job_id, d.placement)
    assert [d.job.job_id for d in result.starts] == ["gang"] and result.preemptions
    mirror = fw.plugins.bind[0]
    assert isinstance(mirror, _Mirror)
    assert [8 - u for u in mirror.used] == list(ledger.free_per_node())

