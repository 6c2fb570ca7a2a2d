"""Framework fixes for partial GPUs (fractional shares, MIG slices) and plugin plumbing:
tenant bookkeeping of share-only jobs, required plugin args."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import Field

from gputwin.cluster import ClusterLayout, Ledger, take_snapshot
from gputwin.errors import InputError
from gputwin.scheduling import (
    Framework,
    PluginArgs,
    PluginContext,
    PreFilterPlugin,
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
