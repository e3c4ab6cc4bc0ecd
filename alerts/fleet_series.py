"""Segmented arrays: many sensors' samples end to end in one flat array, and the numeric helpers
of `alerts.series` and `alerts.rules.base` computed for every sensor in one NumPy pass.

Segment ``k`` of a flat array is ``flat[offsets[k]:offsets[k + 1]]``, one sensor's samples in
time order. Each helper gives, element for element, what its per-sensor namesake in
`alerts.series` gives for each segment alone (integer bookkeeping only: no sum crosses a
segment's edge, so the floating-point results are the same bits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from repoclimate.alerts.series import BoolArray, FloatArray, IntArray

_FEW_TIMES = 16
"""Up to this many evaluation times the last sample per segment is counted per time (one pass
over the flat array each); beyond, it is searched per segment."""


@dataclass(frozen=True, slots=True)
class Segments:
    """Where each segment of a flat array begins and ends, and, per element, its segment."""

    offsets: IntArray
    """``(count + 1,)``: segment ``k`` is ``[offsets[k], offsets[k + 1])``."""
    seg: IntArray
    """Per element, the index of its segment."""
    first: IntArray
    """Per element, the flat index of its segment's first element."""

    @classmethod
    def from_offsets(cls, offsets: IntArray) -> Segments:
        lengths = np.diff(offsets)
        seg = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
        return cls(offsets, seg, offsets[:-1][seg])

    @classmethod
    def from_lengths(cls, lengths: IntArray) -> Segments:
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls.from_offsets(offsets)

    @property
    def count(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def starts(self) -> IntArray:
        starts: IntArray = self.offsets[:-1]
        return starts

    @property
    def lengths(self) -> IntArray:
        lengths: IntArray = np.diff(self.offsets)
        return lengths

    def compact(self, keep: BoolArray) -> tuple[Segments, IntArray]:
        """The segments of the elements ``keep`` selects, and the flat indices kept."""
        before = np.zeros(keep.size + 1, dtype=np.int64)
        np.cumsum(keep, out=before[1:])
        return Segments.from_offsets(before[self.offsets]), np.flatnonzero(keep)


def last_at_or_before(times: FloatArray, segs: Segments, at: FloatArray) -> IntArray:
    """``(segments, times)``: per segment and evaluation time, the index *within the segment*
    of its last sample at or before that time (−1: none) — `numpy.searchsorted` per segment."""
    out = np.empty((segs.count, at.size), dtype=np.int64)
    if at.size <= _FEW_TIMES:
        counted = np.zeros(times.size + 1, dtype=np.int64)
        for j, t in enumerate(at.tolist()):
            np.cumsum(times <= t, out=counted[1:])
            out[:, j] = counted[segs.offsets[1:]] - counted[segs.offsets[:-1]] - 1
        return out
    offsets = segs.offsets.tolist()
    for k in range(segs.count):
        segment = times[offsets[k] : offsets[k + 1]]
        out[k] = np.searchsorted(segment, at, side="right") - 1
    return out


def fresh_steps(
    times: FloatArray, segs: Segments, at: FloatArray, max_age_s: FloatArray
) -> tuple[IntArray, BoolArray, BoolArray]:
    """`alerts.rules.base.fresh_steps` per segment: the flat index of the last sample at or
    before each time (clipped into the array), whether there is one, and whether it is at most
    ``max_age_s`` (per segment) old. Shapes ``(segments, times)``."""
    local = last_at_or_before(times, segs, at)
    exists = local >= 0
    if times.size == 0:
        nothing = np.zeros(local.shape, dtype=np.bool_)
        return np.zeros(local.shape, dtype=np.int64), nothing, nothing
    flat = np.minimum(segs.starts[:, None] + np.maximum(local, 0), times.size - 1)
    with np.errstate(invalid="ignore"):
        fresh = exists & (at[None, :] - times[flat] <= max_age_s[:, None])
    return flat, exists, fresh


def carry(events: NDArray[np.int8], segs: Segments, initially: BoolArray) -> BoolArray:
    """`alerts.series._carry` per segment: the state the last event within the segment set,
    else the segment's initial state."""
    n = events.size
    if n == 0:
        return np.zeros(0, dtype=np.bool_)
    index = np.arange(n, dtype=np.int64)
    last = np.maximum.accumulate(np.where(events != 0, index, -1))
    inside = last >= segs.first
    active = np.where(inside, events[np.maximum(last, 0)] > 0, initially[segs.seg])
    return np.asarray(active, dtype=np.bool_)


def hysteresis_above(
    values: FloatArray,
    enter: FloatArray,
    clear: FloatArray,
    segs: Segments,
    initially: BoolArray,
) -> BoolArray:
    """`alerts.series.hysteresis_above` per segment; ``enter``/``clear`` per element."""
    events = np.zeros(values.size, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        events[values > enter] = 1
        events[values < clear] = -1
    return carry(events, segs, initially)


def hysteresis_below(
    values: FloatArray,
    enter: FloatArray,
    clear: FloatArray,
    segs: Segments,
    initially: BoolArray,
) -> BoolArray:
    """`alerts.series.hysteresis_below` per segment."""
    return hysteresis_above(-values, -enter, -clear, segs, initially)


def hysteresis_mask(
    enter_mask: BoolArray, clear_mask: BoolArray, segs: Segments, initially: BoolArray
) -> BoolArray:
    """`alerts.series.hysteresis_mask` per segment."""
    events = np.zeros(enter_mask.size, dtype=np.int8)
    events[clear_mask] = -1
    events[enter_mask] = 1
    return carry(events, segs, initially)


def episode_starts(active: BoolArray, segs: Segments, initially: BoolArray) -> IntArray:
    """`alerts.series.episode_starts` per segment, as flat indices (−1: the run began before
    the segment's first sample, or the sample is inactive)."""
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
    result: IntArray = np.where(active & (began >= segs.first), began, -1)
    return result


def since_times(starts: IntArray, times: FloatArray, segs: Segments) -> FloatArray:
    """`alerts.rules.base.since_times` per segment: the episode's first sample's time, or the
    segment's first sample's when the episode was under way before it."""
    if times.size == 0:
        return np.empty(0)
    result: FloatArray = np.where(starts >= 0, times[np.maximum(starts, 0)], times[segs.first])
    return result


def last_valid(values: FloatArray, segs: Segments) -> FloatArray:
    """Per element, the segment's last non-NaN value up to it (NaN: none yet)."""
    n = values.size
    if n == 0:
        return np.empty(0)
    index = np.arange(n, dtype=np.int64)
    last = np.maximum.accumulate(np.where(~np.isnan(values), index, -1))
    result: FloatArray = np.where(last >= segs.first, values[np.maximum(last, 0)], np.nan)
    return result


def run_starts(values: FloatArray, segs: Segments) -> IntArray:
    """`alerts.rules.health._run_starts` per segment, as flat indices: where the current run
    of equal values began (NaN continues a run)."""
    n = values.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    filled = last_valid(values, segs)
    changed = np.ones(n, dtype=np.bool_)
    changed[1:] = ~(filled[1:] == filled[:-1])
    changed[1:] &= ~(np.isnan(filled[1:]) & np.isnan(filled[:-1]))
    changed[segs.starts[segs.lengths > 0]] = True
    index = np.arange(n, dtype=np.int64)
    starts: IntArray = np.maximum.accumulate(np.where(changed, index, 0))
    return starts


def segment_any(mask: BoolArray, segs: Segments) -> BoolArray:
    """Per segment, whether ``mask`` holds anywhere in it."""
    counted = np.zeros(mask.size + 1, dtype=np.int64)
    np.cumsum(mask, out=counted[1:])
    result: BoolArray = counted[segs.offsets[1:]] > counted[segs.offsets[:-1]]
    return result
