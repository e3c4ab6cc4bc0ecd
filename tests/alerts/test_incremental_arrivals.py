"""The incremental source on the SQLite store's arrivals log (`history.store.ReadsArrivals`):
each cycle reads only the sensors written since the last and each from its earliest reading
written (and the hourly means of the hours those fall in, and of the hour the last cycle's end
fell in), yet serves exactly the whole-window reads, cycle for cycle — through a reading
written before a cycle with a time after its end, a late reading in an earlier hour, a battery
merged into a stored reading, a silent sensor; and when the log no longer reaches back to the
last cycle, it reads its settle window as before, with the same answers. What is held is what
the longest window asked needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repoclimate.alerts.evaluate import StoreSource
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import from_epoch
from repoclimate.history.sqlite import ARRIVALS_KEPT, SQLiteStore
from repoclimate.sensors.reading import Reading
from tests.alerts.test_golden import END
from tests.alerts.test_incremental import reading, same_raw

SENSORS = ("a", "b", "c", "d", "e")
RAW_S = 6 * 3600.0
FIRST_H = 30
"""The means asked: the hours from 30 h before each cycle's end on."""


def means_of(store: SQLiteStore, sensors: tuple[str, ...], first: int, end: float) -> np.ndarray:
    """The store's hourly means ``(2, sensors, hours)`` from hour ``first`` to ``end``, read
    whole (`hourly_blocks`)."""
    last = int(np.floor(end / 3600.0))
    out = np.full((2, len(sensors), last - first + 1), np.nan)
    blocks = store.hourly_blocks(sensors, from_epoch(first * 3600.0), from_epoch(end))
    row = np.repeat(np.arange(len(sensors)), np.diff(blocks.offsets))
    column = blocks.times_ns // 3_600_000_000_000 - first
    out[:, row, column] = blocks.values
    return out


@pytest.mark.parametrize("kept", [ARRIVALS_KEPT, 3])
def test_reading_what_arrived_serves_the_whole_reads(tmp_path: Path, kept: int) -> None:
    store = SQLiteStore(tmp_path / "readings.sqlite", arrivals_kept=kept)
    t0 = END.timestamp() - 2 * 86400.0
    store.write(
        [reading(s, t0 - k * 300.0, k + 7 * i) for i, s in enumerate(SENSORS) for k in range(400)]
    )
    # "e" is silent from now on, but a reading of it timed after the first cycle is there
    store.write([reading("e", t0 + 400.0, 3)])
    whole = StoreSource(store)
    source = IncrementalStoreSource(store, settle_s=1800.0)
    key = ("means", SENSORS)
    end, after = t0, None
    read = []
    for n in range(8):
        if n:
            end = t0 + 300.0 * n
            store.write([reading(s, end, n + 100) for s in SENSORS[:4]])
        if n == 2:  # a battery merged into a stored reading of "c", 10 min back
            store.write(
                [Reading("c", from_epoch(end - 600.0), None, None, 55.0, site="s", room="r")]
            )
        if n == 3:  # "b"'s reading 28 min back (the hour before) arrives late
            store.write([reading("b", end - 1700.0, 999)])
        before = source.readings_read
        starts = np.full(len(SENSORS), end - RAW_S)
        for s, series in zip(SENSORS, source.raw_many(SENSORS, starts, end), strict=True):
            assert same_raw(series, whole.raw(s, end - RAW_S, end)), (n, s)
        read.append(source.readings_read - before)
        first = int(np.floor(end / 3600.0)) - FIRST_H
        last = int(np.floor(end / 3600.0))
        t, h, _ = source.hour_means(key, SENSORS, first, last, end, after)
        expected = means_of(store, SENSORS, first, end)
        assert np.array_equal(t, expected[0], equal_nan=True), n
        assert np.array_equal(h, expected[1], equal_nan=True), n
        after = end
    # each sensor keeps what its longest window asked needs, no more (the buffer is copied
    # whole each cycle); a longer window later is read whole, the same as the store's
    held = source._flat
    assert held is not None and held.held_from.tolist() == [end - RAW_S] * len(SENSORS)
    assert held.times.size == sum(len(whole.raw(s, end - RAW_S, end)) for s in SENSORS)
    longer = np.full(len(SENSORS), end - RAW_S - 3600.0)
    for s, series in zip(SENSORS, source.raw_many(SENSORS, longer, end), strict=True):
        assert same_raw(series, whole.raw(s, end - RAW_S - 3600.0, end)), s
    if kept == ARRIVALS_KEPT:  # only what arrived: each cycle's four new readings, e's
        # reading after the first cycle's end, c from its changed reading on (3 readings), b
        # from its late one on (7)
        assert read[1:] == [4, 4 + 1 + 2, 3 + 7, 4, 4, 4, 4]
    else:  # the log no longer reaches back each cycle: the settle window of every sensor
        assert min(read[1:]) >= 5 * 6
    store.close()
