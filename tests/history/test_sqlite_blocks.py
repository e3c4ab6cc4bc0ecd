"""`SQLiteStore.history_blocks` (all sensors in one query, as columns) gives what
`SQLiteStore.history` gives, sensor by sensor, value for value: a quantity NULL for the first
thousands of rows and set later, or NULL throughout, comes out as numbers (NaN where NULL),
the times to the nanosecond; a closed store says so. (Reading it through the ADBC driver, as
`history_arrays` does, was tried and dropped: it missed readings written after an earlier ADBC
read in the same process.) The reads from a start per sensor give the same, and the arrivals
log names every sensor written since a mark with its earliest reading time (new or changed
readings, either write path), says when it can no longer tell, and a file from before the log
gains it without losing a reading."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from repoclimate.history.columns import SensorColumns
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import READING_COLUMNS, ReadsArrivals, StoreUnavailable
from repoclimate.history.timestamps import to_ns
from repoclimate.sensors.reading import Reading
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


def test_reads_from_a_start_per_sensor_are_the_range_reads(store: SQLiteStore) -> None:
    assert isinstance(store, ReadsArrivals)
    sensors = ["steady", "late-battery", "never-heard", "no-temperature"]
    starts = [T0 + timedelta(hours=h) for h in (3, 1, 2, 50)]
    end = T0 + timedelta(days=2, minutes=7)
    starts_ns = np.array([to_ns(t) + 1000 * k for k, t in enumerate(starts)], dtype=np.int64)
    blocks = store.history_blocks_from(sensors, starts_ns, end)
    hourly = store.hourly_blocks_from(
        sensors, (starts_ns // 3_600_000_000_000) * 3_600_000_000_000, end
    )
    for i, sensor in enumerate(sensors):
        start = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(starts_ns[i]) // 1000)
        one = store.history_blocks([sensor], start, end)
        lo, hi = int(blocks.offsets[i]), int(blocks.offsets[i + 1])
        assert np.array_equal(blocks.times_ns[lo:hi], one.times_ns), sensor
        assert np.array_equal(blocks.values[:, lo:hi], one.values, equal_nan=True), sensor
        hour = start.replace(minute=0, second=0, microsecond=0)
        points = store.aggregate(sensor, hour, end, timedelta(hours=1))
        lo, hi = int(hourly.offsets[i]), int(hourly.offsets[i + 1])
        assert hourly.times_ns[lo:hi].tolist() == [to_ns(p.time) for p in points], sensor
        for k, name in enumerate(("temperature_mean", "humidity_mean")):
            want = np.array([getattr(p, name) for p in points], dtype=np.float64)
            assert np.array_equal(hourly.values[k, lo:hi], want, equal_nan=True), (sensor, name)
    assert hi - lo == 0 and blocks.offsets[3] - blocks.offsets[2] == 0  # never heard
    assert len(blocks) > 1000 and len(hourly) > 40
    with pytest.raises(ValueError, match="2 sensors but 1 starts"):
        store.history_blocks_from(["a", "b"], starts_ns[:1], end)
    store.close()


def _reading(
    sensor: str, minutes: int, temperature: float | None, battery: float | None = None
) -> Reading:
    at = T0 + timedelta(minutes=minutes)
    return Reading(
        sensor, at, temperature, None if temperature is None else 50.0, battery, site="s", room="r"
    )


def test_arrivals_name_the_sensors_written_since_a_mark(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "readings.sqlite")
    none = store.arrivals(None)
    assert (none.mark, none.complete, none.sensors) == (0, False, ())
    assert store.arrivals(0).complete and store.arrivals(0).sensors == ()
    store.write([_reading("a", m, 20.0) for m in (10, 5, 15)] + [_reading("b", 30, 21.0)])
    first = store.arrivals(0)
    assert first.complete and first.sensors == ("a", "b")
    assert first.first_ns.tolist() == [
        to_ns(T0 + timedelta(minutes=5)),
        to_ns(T0 + timedelta(minutes=30)),
    ]
    mark = first.mark
    assert store.arrivals(mark).complete and store.arrivals(mark).sensors == ()
    # a battery merged into a stored reading of "a", an earlier one of "b", then a new one of
    # "b": each sensor once, from its earliest time written since the mark
    store.write([_reading("a", 10, None, 55.0)])
    store.write([_reading("b", 20, 19.0)])
    store.write([_reading("b", 40, 19.5)])
    later = store.arrivals(mark)
    assert later.complete and later.sensors == ("a", "b") and later.mark > mark
    assert later.first_ns.tolist() == [
        to_ns(T0 + timedelta(minutes=10)),
        to_ns(T0 + timedelta(minutes=20)),
    ]
    # the columns' write path logs too
    times = [to_ns(T0 + timedelta(minutes=m)) for m in (60, 65)]
    store.write_columns(SensorColumns("c", "s", "r", times, [20.0, 20.1], [40.0, 40.1]))
    columns = store.arrivals(later.mark)
    assert columns.sensors == ("c",) and columns.first_ns.tolist() == [times[0]]
    # a mark past the log's newest is not this log's: it cannot tell
    assert not store.arrivals(columns.mark + 5).complete
    store.close()


def test_arrivals_say_when_the_log_no_longer_reaches_back(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "readings.sqlite", arrivals_kept=2)
    marks = []
    for n in range(4):
        store.write([_reading("a", n, 20.0)])
        marks.append(store.arrivals(None).mark)
    assert not store.arrivals(marks[0]).complete  # the rows after it are gone
    kept = store.arrivals(marks[1])
    assert kept.complete and kept.first_ns.tolist() == [to_ns(T0 + timedelta(minutes=2))]
    (rows,) = (
        sqlite3.connect(tmp_path / "readings.sqlite")
        .execute("SELECT count(*) FROM arrivals")
        .fetchone()
    )
    assert rows == 2
    with pytest.raises(ValueError, match="arrivals_kept"):
        SQLiteStore(tmp_path / "other.sqlite", arrivals_kept=0)
    store.close()


def test_a_file_from_before_the_arrivals_log_gains_it_and_keeps_its_readings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.sqlite"
    old = SQLiteStore(path)
    old.write([_reading(s, m, 20.0 + m) for s in ("a", "b") for m in range(0, 600, 5)])
    before = {s: old.history(s, T0, T0 + timedelta(days=1)) for s in ("a", "b")}
    hourly_before = old.aggregate("a", T0, T0 + timedelta(days=1), timedelta(hours=1))
    old.close()
    connection = sqlite3.connect(path)  # the file as the store left it before the log
    connection.execute("DROP TABLE arrivals")
    connection.commit()
    connection.close()
    store = SQLiteStore(path)
    assert {s: store.history(s, T0, T0 + timedelta(days=1)) for s in ("a", "b")} == before
    assert store.aggregate("a", T0, T0 + timedelta(days=1), timedelta(hours=1)) == hourly_before
    assert store.count() == 240
    empty = store.arrivals(None)
    assert empty.mark == 0 and not empty.complete
    store.write([_reading("b", 700, 22.0)])
    found = store.arrivals(0)
    assert found.complete and found.sensors == ("b",)
    store.close()
