"""MIG placement inside the framework: no slice ever over-allocated, only valid layouts,
reconfiguration (with its wait) exactly when no configured or free instance fits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Ledger
from gputwin.cluster.mig import MigGeometry
from gputwin.cluster.snapshot import take_snapshot
from gputwin.scheduling import PluginContext, build_framework, resolve_profile
from gputwin.scheduling.plugins.mig import MigPlacement
from gputwin.workload.job import JobSpec

GPU = "h100-sxm-80gb"
PROFILES = ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]


def mig_job(i: int, profile: str | None, gpus: int = 1) -> JobSpec:
    return JobSpec(job_id=f"m{i:04d}", kind="trace", tenant="t", model="unknown",
                   num_gpus=gpus, submit_time_s=float(i), fixed_duration_s=100.0,
                   mig_profile=profile)


class Harness:
    # One GPU per node stays out of MIG mode by default (whole-GPU jobs have somewhere to
    # go); all-MIG clusters are tested in test_framework_shares.py.
    def __init__(self, *, nodes: int = 1, gpus: int = 2, mig_per_node: int | None = 1,
                 time_s: float = 5.0) -> None:
        layout = ClusterLayout(num_nodes=nodes, gpus_per_node=gpus, nodes_per_leaf=2)
        ctx = PluginContext(layout=layout, estimate_runtime=lambda j: 100.0, gpu_type=GPU)
        args = {"mig": {"reconfiguration_time_s": time_s, "mig_gpus_per_node": mig_per_node}}
        self.fw = build_framework(resolve_profile("mig", None, args), ctx)
        self.ledger = Ledger(layout)
        self.now = 0.0
        self.started: dict[str, float] = {}

    @property
    def plugin(self) -> MigPlacement:
        p = self.fw.plugins.placement
        assert isinstance(p, MigPlacement)
        return p

    def cycle(self, *jobs: JobSpec, dt: float = 1.0) -> list[str]:
        self.now += dt
        for j in jobs:
            assert self.fw.submit(j, self.now) is None
        result = self.fw.schedule(self.now, take_snapshot(self.ledger))
        for d in result.starts:
            self.ledger.allocate(d.job.job_id, d.placement)  # raises on overlapping slices
            self.started[d.job.job_id] = self.now
        return [d.job.job_id for d in result.starts]

    def finish(self, job_id: str) -> None:
        self.ledger.release(job_id)
        self.fw.finished(job_id, self.now)

    def check(self) -> None:
        geo = MigGeometry.for_gpu(GPU)
        ledger_slices = self.ledger.mig_slices()
        for (node, gpu), state in ((k, v.state) for k, v in self.plugin.gpus.items()):
            assert geo.is_valid_layout(state.instances)
            busy = self.plugin.busy_of(node, gpu)
            assert set(busy) <= set(state.instances)
            compute = sum(geo.profile(i.profile).compute_slices for i in busy)
            assert compute <= geo.compute_slices
            configured = {(i.start, geo.profile(i.profile).memory_slices)
                          for i in state.instances}
            assert set(ledger_slices.get((node, gpu), ())) <= configured


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(PROFILES), st.integers(0, 3)),
                    min_size=1, max_size=40))
def test_no_slice_over_allocated_and_layouts_stay_valid(ops: list[tuple[str, int]]) -> None:
    h = Harness(nodes=2, gpus=3, mig_per_node=2, time_s=2.0)
    running: list[str] = []
    for i, (profile, finishes) in enumerate(ops):
        for _ in range(min(finishes, len(running))):
            h.finish(running.pop(0))
        running += h.cycle(mig_job(i, profile), dt=3.0)
        h.check()
    assert h.plugin.num_reconfigurations >= 1


def test_reuses_an_idle_instance_without_reconfiguring() -> None:
    h = Harness()
    assert h.cycle(mig_job(1, "3g.40gb")) == []  # creating the first instance takes 5 s
    assert h.cycle(dt=5.0) == ["m0001"]
    assert h.plugin.num_reconfigurations == 1
    h.finish("m0001")
    assert h.cycle(mig_job(2, "3g.40gb")) == ["m0002"]  # idle instance reused: no wait
    assert h.plugin.num_reconfigurations == 1


def test_reconfigures_idle_slices_when_nothing_fits_and_the_job_waits() -> None:
    h = Harness(time_s=0.0)  # instant creation while filling the GPU
    for i in range(7):  # one arrival per cycle
        assert h.cycle(mig_job(i, "1g.10gb")) == [f"m{i:04d}"]
    assert len(h.ledger.mig_slices()[(0, 0)]) == 7  # seven 1g instances running
    h.plugin.time_s = 5.0
    for i in range(7):
        h.finish(f"m{i:04d}")
    before = h.plugin.num_reconfigurations
    submit_at = h.now + 1.0
    assert h.cycle(mig_job(10, "7g.80gb")) == []  # must destroy 7 idle 1g instances
    assert h.plugin.num_reconfigurations == before + 1
    assert h.plugin.num_destroyed >= 7
    assert h.cycle(dt=2.0) == []  # still reconfiguring
    assert h.cycle(dt=3.0) == ["m0010"]
    assert h.started["m0010"] - submit_at >= 5.0
    assert [i.profile for i in h.plugin.layout_of(0, 0).instances] == ["7g.80gb"]
    h.check()


def test_busy_instances_block_and_the_job_waits_for_them() -> None:
    h = Harness(time_s=0.0)
    assert h.cycle(mig_job(1, "4g.40gb")) == ["m0001"]
    assert h.cycle(mig_job(2, "4g.40gb")) == []  # one 4g per GPU
    h.finish("m0001")
    assert h.cycle() == ["m0002"]


def test_whole_gpu_jobs_never_take_mig_gpus() -> None:
    h = Harness(nodes=1, gpus=8, mig_per_node=4, time_s=0.0)
    assert h.cycle(mig_job(1, None, gpus=5)) == []  # only 4 GPUs are not in MIG mode
    h.fw.remove_queued(["m0001"])
    assert h.cycle(mig_job(2, None, gpus=4)) == ["m0002"]
    assert h.cycle(mig_job(3, "1g.10gb")) == ["m0003"]
    assert h.ledger.free_on(0) == 3
    h.check()


def test_unknown_profile_and_non_mig_gpu_are_errors() -> None:
    from gputwin.errors import InputError
    with pytest.raises(InputError):
        layout = ClusterLayout(num_nodes=1, gpus_per_node=8, nodes_per_leaf=1)
        ctx = PluginContext(layout=layout, estimate_runtime=lambda j: 1.0, gpu_type="l4")
        build_framework(resolve_profile("mig"), ctx)
    with pytest.raises(ValueError):
        mig_job(1, "1g.10gb", gpus=2)
