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
        return cls(offsets, seg, np.repeat(offsets[:-1], lengths))

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
    of its last sample at or before that time (−1: none) — `numpy.searchsorted` per segment
    (``side="right"``), computed by merging: with ``at`` in order, one stable sort of a
    segment's samples followed by the times is a merge of two sorted runs (linear), and an
    evaluation time's place in it, less the times before it, counts the samples at or before
    it (a sample equal to the time sorts first)."""
    out = np.empty((segs.count, at.size), dtype=np.int64)
    if at.size <= _FEW_TIMES:
        counted = np.zeros(times.size + 1, dtype=np.int64)
        for j, t in enumerate(at.tolist()):
            np.cumsum(times <= t, out=counted[1:])
            out[:, j] = counted[segs.offsets[1:]] - counted[segs.offsets[:-1]] - 1
        return out
    offsets = segs.offsets.tolist()
    if not bool(np.all(at[1:] >= at[:-1])):
        for k in range(segs.count):
            segment = times[offsets[k] : offsets[k + 1]]
            out[k] = np.searchsorted(segment, at, side="right") - 1
        return out
    before = np.arange(1, at.size + 1, dtype=np.int64)
    for k in range(segs.count):
        size = offsets[k + 1] - offsets[k]
        order = np.argsort(np.concatenate((times[offsets[k] : offsets[k + 1]], at)), kind="stable")
        np.subtract(np.flatnonzero(order >= size), before, out=out[k])
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
    flat = np.maximum(local, 0)
    flat += segs.starts[:, None]
    np.minimum(flat, times.size - 1, out=flat)
    age = np.subtract(at[None, :], times[flat])
    with np.errstate(invalid="ignore"):
        fresh = np.less_equal(age, max_age_s[:, None])
    fresh &= exists
    return flat, exists, fresh


def _segment_heads(segs: Segments) -> tuple[IntArray, BoolArray]:
    """The flat index of each non-empty segment's first element, and which segments those are."""
    nonempty: BoolArray = segs.offsets[1:] > segs.offsets[:-1]
    heads: IntArray = segs.offsets[:-1][nonempty]
    return heads, nonempty


def carry(events: NDArray[np.int8], segs: Segments, initially: BoolArray) -> BoolArray:
    """`alerts.series._carry` per segment: the state the last event within the segment set,
    else the segment's initial state.

    Each segment's initial state is written as an event on its first element when that has
    none, so the state is everywhere the last event's: the events' positions split the flat
    array into runs of one state (`numpy.repeat`), none crossing a segment's start."""
    n = events.size
    if n == 0:
        return np.zeros(0, dtype=np.bool_)
    heads, nonempty = _segment_heads(segs)
    stated = events.copy()
    own = stated[heads]
    stated[heads] = np.where(own != 0, own, np.where(initially[nonempty], 1, -1))
    where = np.flatnonzero(stated)
    on = stated[where] > 0
    flips = np.empty(where.size, dtype=np.bool_)
    flips[0] = True
    np.not_equal(on[1:], on[:-1], out=flips[1:])
    runs = where[flips]
    active: BoolArray = np.repeat(on[flips], np.diff(runs, append=n))
    return active


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
    the segment's first sample, or the sample is inactive).

    Every episode start and every segment's first element opens a run of one answer (the
    start's index; −1 for a segment's first element that starts nothing), repeated up to the
    next (`numpy.repeat`)."""
    n = active.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    heads, nonempty = _segment_heads(segs)
    starts = np.empty(n, dtype=np.bool_)
    np.greater(active[1:], active[:-1], out=starts[1:])
    starts[heads] = active[heads] & ~initially[nonempty]
    opens = starts.copy()
    opens[heads] = True
    where = np.flatnonzero(opens)
    began = np.repeat(np.where(starts[where], where, -1), np.diff(where, append=n))
    result: IntArray = np.where(active, began, -1)
    return result


def since_times(starts: IntArray, times: FloatArray, segs: Segments) -> FloatArray:
    """`alerts.rules.base.since_times` per segment: the episode's first sample's time, or the
    segment's first sample's when the episode was under way before it."""
    if times.size == 0:
        return np.empty(0)
    result: FloatArray = times[np.where(starts >= 0, starts, segs.first)]
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
