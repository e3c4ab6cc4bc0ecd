"""`ReadsBlocks` on both stores: many sensors' readings and hourly means in one query give, for
each sensor, exactly what `Store.history` and `Store.aggregate` give for it alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from repoclimate.history import StoreSettings, influx, open_store
from repoclimate.history.influx import InfluxStore
from repoclimate.history.store import (
    MEAN_COLUMNS,
    READING_COLUMNS,
    HistoryStore,
    ReadsBlocks,
    SensorBlocks,
    StoreUnavailable,
)
from repoclimate.history.timestamps import to_ns
from repoclimate.sensors.reading import Reading
from tests.servers import InfluxDB

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
SENSORS = ["a", "b", "quote'd", "silent", "dot.t(e)d|x", "sl/ash$", "c,o m=a\\b"]
"""Ids the queries must quote (InfluxDB: in a regular expression; in its CSV answers, the
last one's comma, space and equals sign escaped) and one without readings."""
FEW = ["b", "dot.t(e)d|x", "b"]
"""Fewer sensors than the others InfluxDB knows (the query names them), one asked twice."""


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    if request.param == "sqlite":
        settings = StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite")
    else:
        server: InfluxDB = request.getfixturevalue("influxdb")
        database = request.getfixturevalue("influx_db_name")
        settings = StoreSettings(
            kind="influxdb", url=server.url, database=database, api_version="v1"
        )
    opened = open_store(settings)
    yield opened  # type: ignore[misc]
    opened.close()


def fill(store: HistoryStore) -> None:
    rng = np.random.default_rng(4)
    readings = []
    for k in range(40):  # 5-minute readings over 3 h 20 min, with gaps and partial ones
        at = T0 + timedelta(minutes=5 * k, microseconds=k)
        t, h = float(rng.normal(19, 2)), float(rng.normal(50, 5))
        if k % 7 != 3:
            readings.append(Reading("a", at, t, h if k % 5 else None, site="s", room="r1"))
        elif k % 2:
            readings.append(Reading("a", at, None, h, 88.0, site="s", room="r1"))
        else:  # a point carrying only a battery level
            readings.append(Reading("a", at, None, None, 71.0, site="s", room="r1"))
        # "b" is moved to another room half-way (two series in InfluxDB)
        room = "r1" if k < 20 else "r2"
        readings.append(Reading("b", at + timedelta(seconds=30), t + 1, h + 1, site="s", room=room))
        if k % 3 == 0:
            readings.append(Reading("quote'd", at, t - 1, None, site="s", room="r3"))
            readings.append(Reading("dot.t(e)d|x", at, t - 2, h, site="s", room="r3"))
            readings.append(Reading("sl/ash$", at, t - 3, h, site="s", room="r3"))
            readings.append(Reading("c,o m=a\\b", at, t - 4, h - 1, site="s", room="r3"))
        # what a careless regular expression would match too
        readings.append(Reading("dotXt(e)d|x", at, 0.0, 0.0, site="s", room="r3"))
        readings.append(Reading("dot.ted", at, 0.0, 0.0, site="s", room="r3"))
    # the same instant in another placement: InfluxDB holds both points, in an order of its own
    tie = T0 + timedelta(minutes=15, microseconds=3, seconds=30)
    readings.append(Reading("b", tie, None, None, 50.0, site="s", room="r2"))
    # an hour of battery levels only: a reading, but no hourly mean
    readings.append(
        Reading("a", T0 + timedelta(hours=4, minutes=30), None, None, 70.0, site="s", room="r1")
    )
    readings.append(Reading("other", T0, 1.0, 2.0, site="s", room="r9"))
    store.write(readings)


def rows_of(blocks: SensorBlocks, i: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = int(blocks.offsets[i]), int(blocks.offsets[i + 1])
    return blocks.times_ns[lo:hi], blocks.values[:, lo:hi]


def nan_or(value: float | None) -> float:
    return np.nan if value is None else value


@pytest.mark.parametrize(
    ("start", "end", "sensors"),
    [
        (T0 - timedelta(hours=1), T0 + timedelta(hours=5), SENSORS),  # everything
        (T0 + timedelta(minutes=50), T0 + timedelta(hours=2, minutes=5), SENSORS),  # mid-hour
        (T0 - timedelta(hours=1), T0 + timedelta(hours=5), FEW),
    ],
)
def test_blocks_are_each_sensors_history_and_hourly_means(
    store: HistoryStore, start: datetime, end: datetime, sensors: list[str]
) -> None:
    assert isinstance(store, ReadsBlocks)
    fill(store)
    readings = store.history_blocks(sensors, start, end)
    means = store.hourly_blocks(sensors, start, end)
    assert readings.sensors == tuple(sensors) and means.sensors == tuple(sensors)
    assert readings.fields == READING_COLUMNS and means.fields == MEAN_COLUMNS
    assert readings.offsets.size == len(sensors) + 1 == means.offsets.size
    for i, sensor in enumerate(sensors):
        times, values = rows_of(readings, i)
        alone = store.history(sensor, start, end)
        assert times.tolist() == [to_ns(r.time) for r in alone], sensor
        for k, name in enumerate(READING_COLUMNS):
            expected = [nan_or(getattr(r, name)) for r in alone]
            np.testing.assert_array_equal(values[k], expected, err_msg=f"{sensor} {name}")
        hours, values = rows_of(means, i)
        points = store.aggregate(sensor, start, end, timedelta(hours=1))
        assert hours.tolist() == [to_ns(p.time) for p in points], sensor
        for k, name in enumerate(MEAN_COLUMNS):
            expected = [nan_or(getattr(p, name)) for p in points]
            np.testing.assert_array_equal(values[k], expected, err_msg=f"{sensor} {name}")
    if "silent" in sensors:
        assert rows_of(readings, sensors.index("silent"))[0].size == 0
    assert len(readings) == sum(len(store.history(s, start, end)) for s in sensors)


def test_blocks_of_no_sensors_and_of_an_empty_range(store: HistoryStore) -> None:
    assert isinstance(store, ReadsBlocks)
    fill(store)
    nothing = store.history_blocks([], T0, T0 + timedelta(hours=5))
    assert len(nothing) == 0 and nothing.offsets.tolist() == [0]
    early = store.hourly_blocks(SENSORS, T0 - timedelta(days=2), T0 - timedelta(days=1))
    assert len(early) == 0 and early.offsets.tolist() == [0] * (len(SENSORS) + 1)
    assert early.values.shape == (len(MEAN_COLUMNS), 0)


def same_blocks(a: SensorBlocks, b: SensorBlocks) -> None:
    assert a.sensors == b.sensors and a.fields == b.fields
    assert a.offsets.tolist() == b.offsets.tolist() and a.times_ns.tolist() == b.times_ns.tolist()
    np.testing.assert_array_equal(a.values, b.values)


def test_influx_blocks_read_from_json_when_csv_is_not_understood(
    influxdb: InfluxDB, influx_db_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a server whose CSV is not 1.x's (2.x, 3.x): the same statement asked again in JSON
    settings = StoreSettings(
        kind="influxdb", url=influxdb.url, database=influx_db_name, api_version="v1"
    )
    with InfluxStore(settings) as store:
        fill(store)
        start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=5)
        from_csv = store.history_blocks(SENSORS, start, end), store.hourly_blocks(FEW, start, end)
        monkeypatch.setattr(influx, "_csv_rows", lambda *args: None)
        from_json = store.history_blocks(SENSORS, start, end), store.hourly_blocks(FEW, start, end)
        assert not store._csv  # asked in JSON from the first answer not understood on
    for a, b in zip(from_csv, from_json, strict=True):
        same_blocks(a, b)
    assert len(from_csv[0]) > 0 and len(from_csv[1]) > 0


def test_influx_blocks_with_the_ids_in_several_expressions(
    influxdb: InfluxDB, influx_db_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two ids per regular expression: the others excluded by two, the wanted named in two queries
    settings = StoreSettings(
        kind="influxdb", url=influxdb.url, database=influx_db_name, api_version="v1"
    )
    start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=5)
    with InfluxStore(settings) as store:
        fill(store)
        asked = [(SENSORS, store.history_blocks), (SENSORS[:3], store.hourly_blocks)]
        whole = [read(sensors, start, end) for sensors, read in asked]
        monkeypatch.setattr(influx, "_SENSORS_PER_QUERY", 2)
        (excluded,) = store._sensor_conditions(SENSORS)  # three others, fewer than wanted
        assert excluded.count("sensor !~") == 2
        assert len(store._sensor_conditions(SENSORS[:3])) == 2
        for (sensors, read), expected in zip(asked, whole, strict=True):
            same_blocks(read(sensors, start, end), expected)


def test_influx_blocks_raise_the_error_csv_leaves_out(
    influxdb: InfluxDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    # InfluxDB's CSV answer to a statement that failed is empty: asked again in JSON, it raises
    settings = StoreSettings(kind="influxdb", url=influxdb.url, database="absent", api_version="v1")
    monkeypatch.setattr(InfluxStore, "_sensor_conditions", lambda self, wanted: [""])
    with InfluxStore(settings) as store, pytest.raises(StoreUnavailable, match="database not f"):
        store.history_blocks(["a"], T0, T0 + timedelta(hours=1))
