"""Torus all-to-all: the busiest link binds; twisted tori even the links out.

The closed forms in ``scale_up.torus_all_to_all`` are checked against a brute-force count:
every chip sends to every chip, each pair's unit of traffic split over all its shortest
paths in proportion to their number, and the load of every directed link summed.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.run.estimate_optics import estimate_optics
from gputwin.topology.collectives import collective_time, group_for_ranks
from gputwin.topology.hardware import resolve_hardware
from gputwin.topology.optical import ocs_slice, optical_table
from gputwin.topology.scale_up import (
    slice_torus_shape,
    torus_all_to_all,
    torus_shape,
    twistable,
)

Node = tuple[int, int, int]
CUBE = (4, 4, 4)  # the TPU v4/v5p electrical block


def _neighbours(dims: Node, twisted: bool) -> dict[Node, list[Node]]:
    n = min(dims)
    shift = tuple(n if k == 2 * n else 0 for k in dims)
    out: dict[Node, list[Node]] = {}
    for node in itertools.product(*(range(k) for k in dims)):
        nbs = []
        for axis, step in itertools.product(range(3), (1, -1)):
            v = list(node)
            v[axis] += step
            if not 0 <= v[axis] < dims[axis]:
                v[axis] %= dims[axis]
                if twisted and dims[axis] == n:
                    v = [(v[b] + step * shift[b]) % dims[b] for b in range(3)]
            nbs.append((v[0], v[1], v[2]))
        out[(node[0], node[1], node[2])] = nbs
    return out


def _distances(nbs: dict[Node, list[Node]], src: Node) -> dict[Node, int]:
    dist = {src: 0}
    queue = collections.deque([src])
    while queue:
        u = queue.popleft()
        for w in nbs[u]:
            if w not in dist:
                dist[w] = dist[u] + 1
                queue.append(w)
    return dist


def _max_link_load(dims: Node, twisted: bool) -> tuple[float, float]:
    """(busiest, quietest) directed-link load of a uniform all-to-all, unit traffic per pair.

    Both tori are Cayley graphs (translating every chip by one offset maps the torus onto
    itself), so the links of one direction (``+x``, ``-x``, ...) all carry what that
    direction's links carry on the routes out of one chip, summed over its destinations."""
    nbs = _neighbours(dims, twisted)
    src: Node = (0, 0, 0)
    d_src = _distances(nbs, src)
    load = [0.0] * 6
    for t in nbs:
        if t == src:
            continue
        d_t = _distances(nbs, t)
        on_path = sorted((u for u in nbs if d_src[u] + d_t[u] == d_src[t]),
                         key=lambda u: d_src[u])
        fwd: dict[Node, float] = {src: 1.0}
        for u in on_path:
            for w in nbs[u]:
                if d_src[w] == d_src[u] + 1 and d_t[w] == d_t[u] - 1:
                    fwd[w] = fwd.get(w, 0.0) + fwd[u]
        back: dict[Node, float] = {t: 1.0}
        for u in reversed(on_path):
            if u != t:
                back[u] = sum(back[w] for w in nbs[u] if d_t[w] == d_t[u] - 1
                              and d_src[w] == d_src[u] + 1)
        for u in on_path:
            for i, w in enumerate(nbs[u]):
                if d_src[w] == d_src[u] + 1 and d_t[w] == d_t[u] - 1:
                    load[i] += fwd[u] * back[w] / fwd[t]
    return max(load), min(load)


def test_twistable_shapes_are_n_n_2n_and_n_2n_2n() -> None:
    assert twistable((8, 4, 4)) and twistable((4, 8, 8)) and twistable((16, 16, 8))
    assert not twistable((4, 4, 4)) and not twistable((12, 4, 4))
    assert not twistable((4, 2, 2)) and not twistable((8, 4))  # under a block; 2D


@pytest.mark.parametrize("dims", [(8, 4, 4), (8, 8, 4)])
def test_closed_forms_match_the_brute_force_link_loads(dims: Node) -> None:
    chips = dims[0] * dims[1] * dims[2]
    for twisted in (False, True):
        busiest, quietest = _max_link_load(dims, twisted)
        _, load_hops = torus_all_to_all(dims, twisted)
        # load_hops is the mean over destinations (itself included) of the hops a chip's
        # traffic puts on the busiest direction, times the 6 directions
        assert busiest == pytest.approx(chips * load_hops / 6, rel=1e-9)
        if twisted:  # every link carries the same load
            assert quietest == pytest.approx(busiest, rel=1e-9)
        else:  # the long dimension's links carry twice the others'
            assert busiest == pytest.approx(2 * quietest, rel=1e-9)


def test_cube_and_non_twistable_shapes_are_unchanged_by_twisting() -> None:
    assert torus_all_to_all((16, 16, 16)) == (12.0, 12.0)
    assert torus_all_to_all((16, 16, 16), twisted=True) == (12.0, 12.0)
    assert torus_all_to_all((12, 4, 4), twisted=True) == torus_all_to_all((12, 4, 4))
    route, load = torus_all_to_all((8, 4, 4))
    assert (route, load) == (4.0, 6.0)  # the 8-long ring's links bind


def test_twisted_group_all_to_all_is_faster_and_all_reduce_is_not() -> None:
    hw = resolve_hardware(default_catalog(), system="tpu-v5p-slice")
    group = group_for_ranks(hw, 128, 1)
    assert sorted(group.torus_dims) == [4, 4, 8]
    twisted = dataclasses.replace(group, torus_twisted=True)
    a2a = collective_time("all_to_all", 2**30, group).time_s
    a2a_tw = collective_time("all_to_all", 2**30, twisted).time_s
    assert a2a / a2a_tw == pytest.approx(6.0 / 3.4375, rel=0.01)
    assert collective_time("all_reduce", 2**30, twisted).time_s == pytest.approx(
        collective_time("all_reduce", 2**30, group).time_s)


def test_estimate_optics_offers_a_twisted_row_only_for_twistable_slices() -> None:
    small = estimate_optics(num_chips=128, op="all_to_all")
    names = [f["fabric"] for f in small["fabrics"]]
    assert names == ["ocs-torus", "ocs-twisted", "static-torus", "eps-clos"]
    assert small["ocs_slice"]["twistable"] and small["twisted_speedup"] > 1.7
    twisted = small["fabrics"][1]
    assert twisted["chip_failure_recovery_s"] == small["fabrics"][0]["chip_failure_recovery_s"]
    pod = estimate_optics(num_chips=4096, op="all_to_all")
    assert "ocs-twisted" not in [f["fabric"] for f in pod["fabrics"]]
    assert pod["twisted_speedup"] is None


@pytest.mark.parametrize(("chips", "shape"), [
    (192, (12, 4, 4)), (320, (20, 4, 4)), (384, (8, 12, 4)), (768, (12, 8, 8)),
    (128, (8, 4, 4)), (6144, (24, 16, 16)), (64, (4, 4, 4)), (96, (6, 4, 4)), (32, (4, 4, 2))])
def test_slices_above_one_cube_are_whole_cubes(chips: int, shape: Node) -> None:
    got = slice_torus_shape(chips, CUBE)
    assert sorted(got) == sorted(shape)
    assert got[0] * got[1] * got[2] == chips
    if chips > 64 and chips % 64 == 0:
        assert all(k % 4 == 0 for k in got)


def test_ocs_slices_and_collective_groups_share_one_shape_rule() -> None:
    hw = resolve_hardware(default_catalog(), system="tpu-v5p-slice")
    assert optical_table().ocs.block_shape == hw.system.torus_block == CUBE
    for chips in (192, 320, 448, 960):
        assert group_for_ranks(hw, chips, 1).torus_dims == slice_torus_shape(chips, CUBE)
        assert ocs_slice(chips).chip_torus == slice_torus_shape(chips, CUBE)
        assert torus_shape(chips) != slice_torus_shape(chips, CUBE)  # the rule matters here


def test_a_192_chip_all_to_all_is_bound_by_its_12_chip_dimension() -> None:
    hw = resolve_hardware(default_catalog(), system="tpu-v5p-slice")
    group = group_for_ranks(hw, 192, 1)
    route, load = torus_all_to_all(group.torus_dims)
    assert route == pytest.approx(3.0 + 1.0 + 1.0)
    assert load == pytest.approx(6 * 3.0 / 2)  # 6 links, the 12-ring's 3 hops on 2 links


def test_a_flat_block_leaves_no_dimension_of_one() -> None:
    assert slice_torus_shape(32, (4, 4, 1)) == (8, 4)  # two 4x4x1 blocks side by side
    assert slice_torus_shape(16, (4, 4, 1)) == (4, 4)
