"""MIG geometry: tables against the NVIDIA MIG User Guide, placement invariants, planning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.cluster.mig import MigError, MigGeometry, MigInstance, MigState, mig_accelerators
from gputwin.errors import UnknownNameError

# `nvidia-smi mig -lgipp` as printed in the NVIDIA MIG User Guide (profile id → starts, size in
# memory slices); identical for A100-80GB and H100-80GB, and H200 uses the same ids.
LGIPP = {19: ([0, 1, 2, 3, 4, 5, 6], 1), 20: ([0, 1, 2, 3, 4, 5, 6], 1), 15: ([0, 2, 4, 6], 2),
         14: ([0, 2, 4], 2), 9: ([0, 4], 4), 5: ([0], 4), 0: ([0], 8)}

# (name, compute slices of 7, memory slices of 8, instances available) from the guide's tables.
GUIDE_PROFILES = {
    "a100-sxm-80gb": [("1g.10gb", 1, 1, 7), ("1g.10gb+me", 1, 1, 1), ("1g.20gb", 1, 2, 4),
                      ("2g.20gb", 2, 2, 3), ("3g.40gb", 3, 4, 2), ("4g.40gb", 4, 4, 1),
                      ("7g.80gb", 7, 8, 1)],
    "h100-sxm-80gb": [("1g.10gb", 1, 1, 7), ("1g.10gb+me", 1, 1, 1), ("1g.20gb", 1, 2, 4),
                      ("2g.20gb", 2, 2, 3), ("3g.40gb", 3, 4, 2), ("4g.40gb", 4, 4, 1),
                      ("7g.80gb", 7, 8, 1)],
    "h200-sxm-141gb": [("1g.18gb", 1, 1, 7), ("1g.18gb+me", 1, 1, 1), ("1g.35gb", 1, 2, 4),
                       ("2g.35gb", 2, 2, 3), ("3g.71gb", 3, 4, 2), ("4g.71gb", 4, 4, 1),
                       ("7g.141gb", 7, 8, 1)],
}
GPUS = list(GUIDE_PROFILES)


@pytest.mark.parametrize("gpu", GPUS)
def test_profiles_match_the_guide(gpu: str) -> None:
    geo = MigGeometry.for_gpu(gpu)
    assert (geo.compute_slices, geo.memory_slices) == (7, 8)
    got = [(p.name, p.compute_slices, p.memory_slices, p.max_instances)
           for p in geo.profiles.values()]
    assert got == GUIDE_PROFILES[gpu]


@pytest.mark.parametrize("gpu", GPUS)
def test_placements_enumerate_exactly_the_table(gpu: str) -> None:
    geo = MigGeometry.for_gpu(gpu)
    for prof in geo.profiles.values():
        starts, size = LGIPP[prof.profile_id]
        assert prof.memory_slices == size
        assert list(geo.valid_starts(prof.name)) == starts
        assert geo.can_place(geo.empty(), prof.name) == starts


def test_aliases_and_unknown_names() -> None:
    assert MigGeometry.for_gpu("H100-80GB") is MigGeometry.for_gpu("h100-sxm-80gb")
    assert MigGeometry.for_gpu("h100-pcie-80gb").name == "h100-80gb"
    assert "h200-sxm-141gb" in mig_accelerators()
    with pytest.raises(UnknownNameError, match="did you mean"):
        MigGeometry.for_gpu("h100-sxm-80g")
    with pytest.raises(UnknownNameError):
        MigGeometry.for_gpu("h100-sxm-80gb").profile("2g.10gb")


@pytest.mark.parametrize(
    ("layout", "valid"),
    [
        ([("7g.80gb", 0)], True),
        ([("1g.10gb", s) for s in range(7)], True),            # seven 1g
        ([("1g.20gb", s) for s in (0, 2, 4, 6)], True),         # four 1g.20gb
        ([("4g.40gb", 0), ("3g.40gb", 4)], True),
        ([("3g.40gb", 0), ("3g.40gb", 4)], True),               # one compute slice left idle
        ([("3g.40gb", 0), ("2g.20gb", 4), ("1g.10gb", 6)], True),
        ([("2g.20gb", 0), ("2g.20gb", 2), ("2g.20gb", 4), ("1g.10gb", 6)], True),
        ([("3g.40gb", 0), ("1g.10gb", 3)], False),              # 3g@0 holds memory slice 3
        ([("4g.40gb", 0), ("4g.40gb", 0)], False),
        ([("2g.20gb", 1)], False),                              # not a table start
        ([("1g.10gb", 7)], False),
        ([("1g.10gb+me", 0), ("1g.10gb+me", 1)], False),        # one media-extension instance
        ([("7g.80gb", 0), ("1g.10gb", 0)], False),
    ],
)
def test_known_layouts(layout: list[tuple[str, int]], valid: bool) -> None:
    assert MigGeometry.for_gpu("h100-sxm-80gb").is_valid_layout(layout) is valid


def test_idle_compute_slice_of_two_3g() -> None:
    geo = MigGeometry.for_gpu("a100-sxm-80gb")
    state = geo.layout_state([("3g.40gb", 0), ("3g.40gb", 4)])
    assert geo.idle_compute_slices(state) == 1
    assert state.memory_mask == 0xFF
    assert geo.free_profiles(state) == {}


def test_place_errors_leave_the_state_alone() -> None:
    geo = MigGeometry.for_gpu("a100-sxm-80gb")
    state = geo.place(geo.empty(), "4g.40gb", 0)
    with pytest.raises(MigError, match="overlaps"):
        geo.place(state, "2g.20gb", 2)
    with pytest.raises(MigError, match="valid starts"):
        geo.place(state, "3g.40gb", 3)
    with pytest.raises(MigError, match="no instance"):
        geo.remove(state, "4g.40gb", 4)
    assert state.instances == (MigInstance(0, "4g.40gb"),)
    assert geo.remove(state, "4g.40gb", 0) == MigState()


def test_nominal_memory_and_smallest_profile() -> None:
    geo = MigGeometry.for_gpu("h200-sxm-141gb")
    assert geo.profile("3g.71gb").nominal_memory_bytes == 71e9
    assert geo.profile("1g.18gb+me").nominal_memory_bytes == 18e9
    small = geo.smallest_profile(memory_bytes=30e9)
    assert small is not None and small.name == "1g.35gb"
    big = geo.smallest_profile(memory_bytes=100e9)
    assert big is not None and big.name == "7g.141gb"
    assert geo.smallest_profile(memory_bytes=200e9) is None


# -- property tests ---------------------------------------------------------------------------

_ops = st.lists(st.tuples(st.sampled_from(["place", "remove"]), st.integers(0, 6),
                          st.integers(0, 7)), max_size=30)


def _ranges_overlap(geo: MigGeometry, a: MigInstance, b: MigInstance) -> bool:
    pa, pb = geo.profile(a.profile), geo.profile(b.profile)
    return a.start < b.start + pb.memory_slices and b.start < a.start + pa.memory_slices


@settings(max_examples=200, deadline=None)
@given(gpu=st.sampled_from(GPUS), ops=_ops)
def test_random_operations_keep_layouts_valid(gpu: str, ops: list[tuple[str, int, int]]) -> None:
    geo = MigGeometry.for_gpu(gpu)
    names = list(geo.profiles)
    state = geo.empty()
    for op, which, pick in ops:
        if op == "place":
            name = names[which % len(names)]
            starts = geo.can_place(state, name)
            # can_place = table starts minus those overlapping an instance (limit permitting)
            expected = [s for s in geo.valid_starts(name)
                        if not any(_ranges_overlap(geo, MigInstance(s, name), i)
                                   for i in state.instances)]
            if state.count(name) >= geo.profile(name).max_instances:
                expected = []
            assert starts == expected
            if starts:
                state = geo.place(state, name, starts[pick % len(starts)])
        elif state.instances:
            inst = state.instances[pick % len(state.instances)]
            state = geo.remove(state, inst.profile, inst.start)
        insts = state.instances
        for i, a in enumerate(insts):
            assert a.start in geo.valid_starts(a.profile)
            for b in insts[i + 1:]:
                assert not _ranges_overlap(geo, a, b)
        assert geo.is_valid_layout(insts)
        assert state.memory_mask.bit_count() == sum(geo.profile(i.profile).memory_slices
                                                    for i in insts)
        assert state.compute_mask.bit_count() == sum(geo.profile(i.profile).compute_slices
                                                     for i in insts)


def test_maximal_layouts_are_valid_and_full() -> None:
    geo = MigGeometry.for_gpu("a100-sxm-80gb")
    layouts = geo.maximal_layouts(["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"])
    assert len({s.instances for s in layouts}) == len(layouts)
    for state in layouts:
        assert geo.is_valid_layout(state.instances)
        for name in ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"):
            assert geo.can_place(state, name) == []
    kinds = {tuple(sorted(i.profile for i in s.instances)) for s in layouts}
    assert ("7g.80gb",) in kinds and ("3g.40gb", "4g.40gb") in kinds
    assert ("1g.10gb",) * 7 in kinds


# -- reconfiguration --------------------------------------------------------------------------


def test_reuse_an_idle_instance_of_the_wanted_profile() -> None:
    geo = MigGeometry.for_gpu("h100-sxm-80gb")
    state = geo.layout_state([("3g.40gb", 0), ("3g.40gb", 4)])
    plan = geo.plan_reconfiguration(state, [("3g.40gb", 0)], "3g.40gb")
    assert plan is not None and plan.reused and plan.time_s == 0.0
    assert plan.create == MigInstance(4, "3g.40gb") and plan.destroy == ()


def test_destroy_the_fewest_idle_instances() -> None:
    geo = MigGeometry.for_gpu("h100-sxm-80gb")
    state = geo.layout_state([("1g.10gb", s) for s in range(7)])
    busy = [("1g.10gb", 0), ("1g.10gb", 1), ("1g.10gb", 4)]
    plan = geo.plan_reconfiguration(state, busy, "2g.20gb", reconfiguration_time_s=3.0)
    assert plan is not None and not plan.reused
    # start 0 and 4 are blocked by busy instances; start 2 needs 1g@2 and 1g@3 destroyed
    assert plan.create == MigInstance(2, "2g.20gb")
    assert plan.destroy == (MigInstance(2, "1g.10gb"), MigInstance(3, "1g.10gb"))
    assert plan.time_s == 3.0
    assert geo.is_valid_layout(plan.new_state.instances)
    assert all(MigInstance(s, "1g.10gb") in plan.new_state.instances for s in (0, 1, 4, 5, 6))


def test_no_plan_when_busy_instances_block_every_start() -> None:
    geo = MigGeometry.for_gpu("a100-sxm-80gb")
    state = geo.layout_state([("1g.10gb", 0), ("1g.10gb", 4)])
    assert geo.plan_reconfiguration(state, state.instances, "3g.40gb") is None
    assert geo.plan_reconfiguration(state, state.instances, "7g.80gb") is None
    plan = geo.plan_reconfiguration(state, [], "7g.80gb")
    assert plan is not None and len(plan.destroy) == 2
    assert plan.time_s == geo.reconfiguration_time_s > 0


def test_busy_instance_must_exist() -> None:
    geo = MigGeometry.for_gpu("a100-sxm-80gb")
    with pytest.raises(MigError, match="busy"):
        geo.plan_reconfiguration(geo.empty(), [("1g.10gb", 0)], "2g.20gb")


@settings(max_examples=150, deadline=None)
@given(gpu=st.sampled_from(GPUS), picks=st.lists(st.integers(0, 50), max_size=8),
       busy_bits=st.integers(0, 255), wanted=st.integers(0, 6))
def test_plans_are_minimal_and_valid(gpu: str, picks: list[int], busy_bits: int,
                                     wanted: int) -> None:
    geo = MigGeometry.for_gpu(gpu)
    names = list(geo.profiles)
    state = geo.empty()
    for pick in picks:  # grow a random valid layout
        options = [(n, s) for n, starts in geo.free_profiles(state).items() for s in starts]
        if not options:
            break
        name, start = options[pick % len(options)]
        state = geo.place(state, name, start)
    busy = [i for k, i in enumerate(state.instances) if busy_bits >> k & 1]
    want = names[wanted]
    plan = geo.plan_reconfiguration(state, busy, want)
    # brute force: the fewest idle instances whose removal lets `want` fit somewhere new
    idle = [i for i in state.instances if i not in busy]
    if any(i.profile == want for i in idle):
        assert plan is not None and plan.reused
        return
    best = None
    for mask in range(1 << len(idle)):
        gone = [i for k, i in enumerate(idle) if mask >> k & 1]
        rest = geo.layout_state(i for i in state.instances if i not in gone)
        if geo.can_place(rest, want) and (best is None or len(gone) < best):
            best = len(gone)
    if best is None:
        assert plan is None
        return
    assert plan is not None and len(plan.destroy) == best
    assert not set(plan.destroy) & set(busy)
    assert set(busy) <= set(plan.new_state.instances)
    assert plan.create in plan.new_state.instances
    assert geo.is_valid_layout(plan.new_state.instances)
