"""`alerts.fleet_fluctuation`'s backtest shortcuts give what the per-reading way gives: levels
repeated row by row (`_per_reading`) and hysteresis events compared row by row (`_events`)
on long rows equal the gathers of short ones (`fleet_series.hysteresis_above`); floats
formatted once (`_Formatted`) keep the sign of a zero and NaN; a finding written slot by slot
equals ``Finding(...)``."""

from __future__ import annotations

import numpy as np

from repoclimate.alerts import fleet_fluctuation as ff
from repoclimate.alerts.fleet_series import Segments, carry, hysteresis_above
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.history.ranges import search_ranges


def long_rows() -> tuple[Segments, np.ndarray]:
    """Rows of 0, 1 and many readings (long on average), with NaN sizes and ties."""
    rng = np.random.default_rng(7)
    lengths = np.array([3000, 0, 1, 2500, 700], dtype=np.int64)
    size = np.round(rng.uniform(0.0, 4.0, int(lengths.sum())), 1)
    size[rng.random(size.size) < 0.05] = np.nan
    return Segments.from_lengths(lengths), size


def test_per_reading_on_long_rows_is_the_gather() -> None:
    segs, _ = long_rows()
    assert segs.offsets[-1] >= ff._LONG_ROWS * segs.count  # the row-by-row path
    per_row = np.array([1.5, np.nan, -2.0, 0.25, 3.0])
    got = ff._per_reading(per_row, segs)
    assert got.dtype == per_row.dtype
    np.testing.assert_array_equal(got, per_row[segs.seg])
    counts = np.array([5, 6, 7, 8, 9], dtype=np.int64)
    np.testing.assert_array_equal(ff._per_reading(counts, segs), counts[segs.seg])


def test_events_on_long_rows_give_the_hysteresis() -> None:
    segs, size = long_rows()
    enter = np.array([2.0, 1.0, 0.5, np.nan, 2.5])
    clear = np.array([1.5, 0.5, 0.5, np.nan, 0.0])
    initially = np.array([True, False, True, True, False])
    events = ff._events(size, enter, clear, segs)
    expected = hysteresis_above(size, enter[segs.seg], clear[segs.seg], segs, initially)
    np.testing.assert_array_equal(carry(events, segs, initially), expected)
    assert expected.any() and not expected.all()


def test_formatted_keeps_signed_zeros_and_nan() -> None:
    one = ff._Formatted(".1f")
    assert [one[x] for x in (0.0, -0.0, 0.0, 21.25, 21.25, float("nan"))] == [
        "0.0",
        "-0.0",
        "0.0",
        format(21.25, ".1f"),
        format(21.25, ".1f"),
        "nan",
    ]
    assert 0.0 not in one  # zeros are never stored (0.0 and -0.0 are one key)


def test_finding_written_by_slots_equals_the_constructor() -> None:
    made = Finding(
        rule="fluctuation_t",
        subject=Subject("s", "r", "x"),
        severity=Severity.CRITICAL,
        since=from_epoch(1.7e9),
        value=1.25,
        threshold=2.0,
        unit="K",
        summary="text",
        advice="advice",
        for_s=600.0,
        clear_s=900.0,
    )
    written: Finding = object.__new__(Finding)
    for write, name in zip(ff._SLOTS, ff._FIELDS, strict=True):
        write(written, getattr(made, name))
    assert written == made and hash(written) == hash(made)


def test_row_search_is_searchsorted_per_row() -> None:
    """The live cycle's bisection over all rows at once (`search_ranges`, no pass over the
    readings) is `numpy.searchsorted` of each row, on rows empty, of one reading, with ties,
    and values before, between and after their readings; `_spans` selects each row's span."""
    rng = np.random.default_rng(11)
    lengths = np.array([0, 1, 5, 300, 2, 0, 64], dtype=np.int64)
    segs = Segments.from_lengths(lengths)
    times = np.concatenate([np.sort(np.round(rng.uniform(0, 50, n))) for n in lengths.tolist()])
    starts, ends = segs.offsets[:-1], segs.offsets[1:]
    for value in (-1.0, 0.0, 7.0, 25.0, 50.0, 51.0, np.inf):
        values = np.full(lengths.size, value)
        values[2] = times[starts[2] + 2]  # a reading's own time (ties sort after)
        got = search_ranges(times, starts, ends, values)
        want = [
            lo + int(np.searchsorted(times[lo:hi], v, side="left"))
            for lo, hi, v in zip(starts.tolist(), ends.tolist(), values.tolist(), strict=True)
        ]
        assert got.tolist() == want
    # each row's second span of (1, 2) elements after the first (rows long enough)
    first, second = np.minimum(lengths, 1), np.minimum(np.maximum(lengths - 1, 0), 2)
    mask = ff._spans(lengths, [first, second], 1)
    chosen = np.flatnonzero(mask)
    want_index = [
        k
        for lo, n in zip(starts.tolist(), second.tolist(), strict=True)
        for k in range(lo + 1, lo + 1 + n)
    ]
    assert chosen.tolist() == want_index
