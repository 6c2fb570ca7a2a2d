"""Hypothesis properties: time positive, monotone in size, more bandwidth never slower."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.topology.collectives import CollectiveOp, CommGroup, LinkLevel, collective_time

ops = st.sampled_from(list(CollectiveOp))
sizes = st.floats(min_value=1.0, max_value=1e11)
bws = st.floats(min_value=1e9, max_value=2e12)


@st.composite
def groups(draw: st.DrawFn) -> CommGroup:
    per_domain = draw(st.sampled_from([1, 2, 4, 8, 72]))
    domains = draw(st.integers(min_value=1, max_value=64))
    up = LinkLevel(draw(bws), draw(st.floats(1e-7, 5e-6)), draw(st.floats(0.3, 1.0)),
                   draw(st.booleans()), draw(st.floats(0.3, 1.0)))
    out = LinkLevel(draw(bws) / 10, draw(st.floats(1e-6, 1e-5)), draw(st.floats(0.3, 1.0)),
                    draw(st.booleans()), draw(st.floats(0.3, 1.0)))
    n = max(2, per_domain * domains)
    if draw(st.booleans()):
        n = max(2, n - draw(st.integers(0, per_domain - 1)))  # partial last domain
    return CommGroup(n, per_domain, up, out, num_nodes=domains)


@settings(max_examples=200, deadline=None)
@given(ops, sizes, groups())
def test_time_positive_and_finite(op: CollectiveOp, size: float, group: CommGroup) -> None:
    est = collective_time(op, size, group)
    assert 0.0 < est.time_s < 1e6
    assert est.busbw_bytes_per_s >= 0.0


@settings(max_examples=200, deadline=None)
@given(ops, sizes, st.floats(1.0, 100.0), groups())
def test_monotone_in_size(op: CollectiveOp, size: float, grow: float, group: CommGroup) -> None:
    assert collective_time(op, size * grow, group).time_s >= collective_time(op, size,
                                                                             group).time_s


@settings(max_examples=200, deadline=None)
@given(ops, sizes, st.floats(1.0, 10.0), groups())
def test_more_bandwidth_never_slower(op: CollectiveOp, size: float, boost: float,
                                     group: CommGroup) -> None:
    assert group.scale_up is not None and group.scale_out is not None
    up, out = group.scale_up, group.scale_out
    faster = CommGroup(
        group.num_gpus, group.gpus_per_domain,
        LinkLevel(up.bandwidth_bytes_per_s * boost, up.latency_s, up.efficiency_frac,
                  up.in_network_reduction, up.in_network_efficiency_frac),
        LinkLevel(out.bandwidth_bytes_per_s * boost, out.latency_s, out.efficiency_frac,
                  out.in_network_reduction, out.in_network_efficiency_frac),
        num_nodes=group.num_nodes)
    assert collective_time(op, size, faster).time_s <= collective_time(op, size,
                                                                       group).time_s * (1 + 1e-12)
