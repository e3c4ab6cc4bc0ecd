"""`SQLiteStore.history_blocks` (all sensors in one query, as columns) gives what
`SQLiteStore.history` gives, sensor by sensor, value for value: a quantity NULL for the first
thousands of rows and set later, or NULL throughout, comes out as numbers (NaN where NULL),
the times to the nanosecond; a closed store says so. (Reading it through the ADBC driver, as
`history_arrays` does, was tried and dropped: it missed readings written after an earlier ADBC
read in the same process.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import READING_COLUMNS, StoreUnavailable
from tests.history.test_sqlite_arrays import T0, store

__all__ = ["store"]


def test_history_blocks_equal_the_readings_whatever_the_first_rows_hold(
    store: SQLiteStore,
) -> None:
    start, end = T0 + timedelta(hours=1), T0 + timedelta(days=30)
    sensors = ["no-temperature", "late-battery", "never-heard", "steady"]
    blocks = store.history_blocks(sensors, start, end)
    assert blocks.sensors == tuple(sensors) and blocks.fields == READING_COLUMNS
    assert blocks.times_ns.dtype == np.int64 and blocks.values.dtype == np.float64
    for i, sensor in enumerate(sensors):
        expected = store.history(sensor, start, end)
        lo, hi = int(blocks.offsets[i]), int(blocks.offsets[i + 1])
        assert blocks.times_ns[lo:hi].tolist() == [
            (r.time - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
            for r in expected
        ]
        for k, name in enumerate(READING_COLUMNS):
            want = np.array([getattr(r, name) for r in expected], dtype=np.float64)
            assert np.array_equal(blocks.values[k, lo:hi], want, equal_nan=True), (sensor, name)
    late = sensors.index("late-battery")
    battery = blocks.values[2, blocks.offsets[late] : blocks.offsets[late + 1]]
    assert np.isfinite(battery).sum() == 10 and battery.size > 4000
    # NULL throughout: every battery of a sensor without one, and no rows at all
    only = store.history_blocks(["no-temperature"], start, end)
    assert np.isnan(only.values[[0, 2]]).all() and len(only) > 1000
    assert len(store.history_blocks(["never-heard"], start, end)) == 0
    store.close()


def test_history_blocks_of_a_closed_store_say_so(store: SQLiteStore) -> None:
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.history_blocks(["steady"], T0, T0 + timedelta(days=1))
