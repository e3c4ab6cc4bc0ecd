"""`SQLiteStore.history_arrays` (Arrow columns through the ADBC SQLite driver) gives what
`SQLiteStore.history` gives, value for value, whatever the columns hold: the driver types a
column from the rows of one batch, so a quantity NULL for the first thousands of rows and
set later, or NULL throughout, must still come out as numbers (NaN where NULL), and the
times to the nanosecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import StoreUnavailable
from repoclimate.sensors.reading import Reading

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def readings(sensor: str, n: int, battery_from: int | None, temperature: bool) -> list[Reading]:
    rng = np.random.default_rng(len(sensor) + n)
    return [
        Reading(
            sensor,
            T0 + timedelta(seconds=300 * k, microseconds=int(rng.integers(0, 999_999))),
            float(rng.normal(19, 2)) if temperature else None,
            float(rng.uniform(30, 70)),
            80.0 - k / 1000 if battery_from is not None and k >= battery_from else None,
            None,
            "site",
            "room",
        )
        for k in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "readings.sqlite")
    store.write(readings("late-battery", 5000, battery_from=4990, temperature=True))
    store.write(readings("no-temperature", 1500, battery_from=None, temperature=False))
    store.write(readings("steady", 3000, battery_from=0, temperature=True))
    return store


def test_history_arrays_equal_the_readings_whatever_the_first_rows_hold(
    store: SQLiteStore,
) -> None:
    start, end = T0 + timedelta(hours=1), T0 + timedelta(days=30)
    sensors = ["late-battery", "no-temperature", "steady", "never-heard"]
    arrays = store.history_arrays(sensors, start, end)
    assert list(arrays) == sensors
    for sensor in sensors:
        expected = store.history(sensor, start, end)
        got = arrays[sensor]
        assert got.times_ns.dtype == np.int64 and got.battery.dtype == np.float64
        assert got.times_ns.tolist() == [
            (r.time - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
            for r in expected
        ]
        for name in ("temperature", "humidity", "battery"):
            want = np.array([getattr(r, name) for r in expected], dtype=np.float64)
            assert np.array_equal(getattr(got, name), want, equal_nan=True), (sensor, name)
    assert len(arrays["never-heard"]) == 0
    assert np.isfinite(arrays["late-battery"].battery).sum() == 10
    assert np.isnan(arrays["no-temperature"].temperature).all()
    store.close()


def test_history_arrays_of_a_closed_store_say_so(store: SQLiteStore) -> None:
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.history_arrays(["steady"], T0, T0 + timedelta(days=1))
