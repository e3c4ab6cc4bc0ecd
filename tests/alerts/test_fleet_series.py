"""The vectorised segment helpers of `alerts.fleet_series` against the loop-and-accumulate
implementations they replaced (kept here as the reference), on random segmented arrays:
the same answers, element for element, including empty segments and ties."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from repoclimate.alerts import fleet_series
from repoclimate.alerts.fleet_series import Segments
from repoclimate.alerts.series import BoolArray, FloatArray, IntArray


def _old_last_at_or_before(times: FloatArray, segs: Segments, at: FloatArray) -> IntArray:
    out = np.empty((segs.count, at.size), dtype=np.int64)
    offsets = segs.offsets.tolist()
    for k in range(segs.count):
        out[k] = np.searchsorted(times[offsets[k] : offsets[k + 1]], at, side="right") - 1
    return out


def _old_carry(events: NDArray[np.int8], segs: Segments, initially: BoolArray) -> BoolArray:
    n = events.size
    if n == 0:
        return np.zeros(0, dtype=np.bool_)
    index = np.arange(n, dtype=np.int64)
    last = np.maximum.accumulate(np.where(events != 0, index, -1))
    inside = last >= segs.first
    return np.asarray(
        np.where(inside, events[np.maximum(last, 0)] > 0, initially[segs.seg]), dtype=np.bool_
    )


def _old_episode_starts(active: BoolArray, segs: Segments, initially: BoolArray) -> IntArray:
    n = active.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    previous = np.empty(n, dtype=np.bool_)
    previous[1:] = active[:-1]
    nonempty = segs.lengths > 0
    previous[segs.starts[nonempty]] = initially[nonempty]
    starts = active & ~previous
    index = np.arange(n, dtype=np.int64)
    began = np.maximum.accumulate(np.where(starts, index, -1))
    return np.asarray(np.where(active & (began >= segs.first), began, -1), dtype=np.int64)


def _old_since_times(starts: IntArray, times: FloatArray, segs: Segments) -> FloatArray:
    if times.size == 0:
        return np.empty(0)
    return np.asarray(
        np.where(starts >= 0, times[np.maximum(starts, 0)], times[segs.first]), dtype=np.float64
    )


def _old_segments(offsets: IntArray) -> tuple[IntArray, IntArray]:
    lengths = np.diff(offsets)
    seg = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    return seg, offsets[:-1][seg]


Segmented = tuple[Segments, FloatArray, NDArray[np.int8], BoolArray]
"""Segments, times, events, initial states."""


@st.composite
def segmented(draw: st.DrawFn) -> Segmented:
    """Random segments (some empty), per element a time (sorted within its segment, with
    repeats) and an event (−1, 0, 1), per segment an initial state."""
    lengths = draw(st.lists(st.integers(0, 12), min_size=1, max_size=8))
    segs = Segments.from_lengths(np.array(lengths, dtype=np.int64))
    n = int(segs.offsets[-1])
    steps = draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 60.0]), min_size=n, max_size=n))
    times = np.array(steps, dtype=np.float64)
    for k in range(segs.count):
        a, b = int(segs.offsets[k]), int(segs.offsets[k + 1])
        times[a:b] = 1000.0 + np.cumsum(times[a:b])
    events = np.array(draw(st.lists(st.sampled_from([-1, 0, 0, 1]), min_size=n, max_size=n)))
    initially = np.array(
        draw(st.lists(st.booleans(), min_size=segs.count, max_size=segs.count)), dtype=np.bool_
    )
    return segs, times, events.astype(np.int8), initially


@settings(max_examples=300, deadline=None)
@given(segmented())
def test_segments_as_before(data: Segmented) -> None:
    segs = data[0]
    seg, first = _old_segments(segs.offsets)
    assert np.array_equal(segs.seg, seg)
    assert np.array_equal(segs.first, first)


@settings(max_examples=300, deadline=None)
@given(segmented(), st.lists(st.integers(0, 8), min_size=17, max_size=40), st.booleans())
def test_last_at_or_before_as_searchsorted(
    data: Segmented,
    at_steps: list[int],
    shuffled: bool,
) -> None:
    """More than `_FEW_TIMES` evaluation times: the merge (times in order, ties with samples
    included) and the fallback for times out of order."""
    segs, times = data[0], data[1]
    at = 998.0 + np.cumsum(np.array(at_steps, dtype=np.float64) * 0.5)  # often a sample's time
    if shuffled:
        at = at[::-1].copy()
    got = fleet_series.last_at_or_before(times, segs, at)
    assert np.array_equal(got, _old_last_at_or_before(times, segs, at))


@settings(max_examples=300, deadline=None)
@given(segmented())
def test_carry_as_accumulate(data: Segmented) -> None:
    segs, _, events, initially = data
    got = fleet_series.carry(events, segs, initially)
    assert got.dtype == np.bool_
    assert np.array_equal(got, _old_carry(events, segs, initially))


@settings(max_examples=300, deadline=None)
@given(segmented())
def test_episode_starts_and_since_as_accumulate(
    data: Segmented,
) -> None:
    segs, times, events, initially = data
    active = events > 0
    got = fleet_series.episode_starts(active, segs, initially)
    assert np.array_equal(got, _old_episode_starts(active, segs, initially))
    since = fleet_series.since_times(got, times, segs)
    assert np.array_equal(since, _old_since_times(got, times, segs))


def test_carry_keeps_state_within_each_segment() -> None:
    """A published case by hand: segment 0 starts on and clears; segment 1 (initially on) has
    no events and stays on; segment 2 (empty) is skipped; segment 3 starts off then enters."""
    segs = Segments.from_lengths(np.array([3, 2, 0, 3], dtype=np.int64))
    events = np.array([0, -1, 0, 0, 0, 0, 1, 0], dtype=np.int8)
    initially = np.array([True, True, False, False])
    assert fleet_series.carry(events, segs, initially).tolist() == [
        True, False, False, True, True, False, True, True,
    ]  # fmt: skip
    active = fleet_series.carry(events, segs, initially)
    assert fleet_series.episode_starts(active, segs, initially).tolist() == [
        -1, -1, -1, -1, -1, -1, 6, 6,
    ]  # fmt: skip
