"""Fractional sharing: requests, the free-milli matrix and the time-slicing model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.cluster.sharing import (
    MILLI_PER_GPU,
    FreeMilli,
    GpuRequest,
    SharingError,
    TimeSliceModel,
    free_milli_row,
)
from gputwin.errors import InputError


@pytest.mark.parametrize(
    ("num_gpus", "milli", "cpu"), [(-1, 1000, 0.0), (1, 0, 0.0), (1, 1001, 0.0), (2, 500, 0.0),
                                   (0, 500, 0.0), (1, 500, -1.0)],
)
def test_bad_requests_are_input_errors(num_gpus: int, milli: int, cpu: float) -> None:
    with pytest.raises(InputError):
        GpuRequest(num_gpus, milli, cpu)


def test_request_properties() -> None:
    assert GpuRequest(1, 250).is_fractional and GpuRequest(1, 250).total_milli == 250
    assert not GpuRequest(1).is_fractional
    assert GpuRequest(8).total_milli == 8 * MILLI_PER_GPU
    assert GpuRequest(0).total_milli == 0


def test_padding_columns_hold_nothing() -> None:
    table = FreeMilli([2, 0, 4])
    assert table.free.shape == (3, 4)
    assert table.free.tolist() == [[1000, 1000, 0, 0], [0, 0, 0, 0], [1000] * 4]
    assert table.unallocated_gpus() == 6.0
    assert not table.fits(1, GpuRequest(1, 1))
    assert table.fits(1, GpuRequest(0))
    with pytest.raises(SharingError, match="out of range"):
        table.allocate(0, [2], 100)


def test_allocate_release_and_errors_leave_state_alone() -> None:
    table = FreeMilli([4])
    table.allocate(0, [1], 300)
    table.allocate(0, [1], 700)
    assert table.free[0].tolist() == [1000, 0, 1000, 1000]
    before = table.free.copy()
    for gpus, milli in (([1], 1), ([0, 1], 10), ([0, 0], 10), ([], 10), ([0], 0)):
        with pytest.raises(SharingError):
            table.allocate(0, gpus, milli)
    with pytest.raises(SharingError, match="capacity"):
        table.release(0, [0], 1)
    with pytest.raises(SharingError, match="no node"):
        table.allocate(3, [0], 1)
    assert np.array_equal(table.free, before)
    assert table.gpus_that_fit(0, 1000).tolist() == [0, 2, 3]
    table.release(0, [1], 1000)
    assert table.free[0].tolist() == [1000] * 4
    assert not table.row(0).flags.writeable


def test_from_matrix_validates() -> None:
    assert FreeMilli.from_matrix([[500, 0]], [2]).free.tolist() == [[500, 0]]
    with pytest.raises(InputError):
        FreeMilli.from_matrix([[500, 10]], [1])  # padding column cannot hold milli
    with pytest.raises(InputError):
        FreeMilli.from_matrix([[500]], [2])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2), st.integers(0, 3),
                          st.integers(1, 1000)), max_size=40))
def test_never_over_allocated(ops: list[tuple[bool, int, int, int]]) -> None:
    table = FreeMilli([4, 1, 2])
    used: dict[tuple[int, int], int] = {}
    for take, node, gpu, milli in ops:
        try:
            if take:
                table.allocate(node, [gpu], milli)
                used[(node, gpu)] = used.get((node, gpu), 0) + milli
            else:
                table.release(node, [gpu], milli)
                used[(node, gpu)] = used.get((node, gpu), 0) - milli
        except SharingError:
            pass
        assert (table.free >= 0).all() and (table.free <= table.capacity).all()
    for (node, gpu), milli in used.items():
        assert table.free[node, gpu] == MILLI_PER_GPU - milli


def test_free_milli_row_from_a_whole_gpu_ledger() -> None:
    row = free_milli_row(8, free_whole=3, partial_used_milli={1: 250, 5: 1000}, mig_gpus=[2])
    assert row.tolist() == [1000, 750, 0, 1000, 1000, 0, 0, 0]
    with pytest.raises(SharingError):
        free_milli_row(2, free_whole=2, partial_used_milli={0: 100})


def test_time_slicing_rates() -> None:
    ideal = TimeSliceModel()
    assert ideal.rates([250, 500, 250]).tolist() == [1.0, 1.0, 1.0]
    assert ideal.rates([1000, 1000]).tolist() == [0.5, 0.5]  # oversubscribed 2×
    assert ideal.gpu_fractions([400, 400]).sum() == pytest.approx(0.8)
    noisy = TimeSliceModel(interference_frac=0.1)
    assert noisy.rates([300, 300, 300]) == pytest.approx([1 / 1.2] * 3)
    assert noisy.rates([1000]).tolist() == [1.0]  # alone: no interference
    assert ideal.rates([]).size == 0
    with pytest.raises(InputError):
        TimeSliceModel(interference_frac=1.5)
    with pytest.raises(InputError):
        ideal.rates([0, 100])


@given(st.lists(st.integers(1, 1000), min_size=1, max_size=10), st.floats(0, 1))
def test_time_slicing_never_creates_capacity(shares: list[int], alpha: float) -> None:
    model = TimeSliceModel(alpha)
    rates = model.rates(shares)
    assert ((rates > 0) & (rates <= 1.0)).all()
    assert model.gpu_fractions(shares).sum() <= 1.0 + 1e-9
