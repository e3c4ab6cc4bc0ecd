"""The incremental store source against the plain one, on both stores (SQLite and a real
InfluxDB): over a store that receives the network's readings as time goes on (some of them
late), an engine reading only what arrived gives the alerts and derived rows of one reading
whole windows, cycle for cycle, and reads a small part of what the other reads; and window by
window, the source serves exactly the whole-window read's arrays through late readings, a new
sensor and a restart, in one query per cycle for all sensors (`history.store.ReadsBlocks`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.evaluate import StoreSource
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import from_epoch
from repoclimate.alerts.series import HourlySeries, SensorSeries
from repoclimate.alerts.state import AlertStore
from repoclimate.history import StoreSettings, open_store
from repoclimate.history.store import Store
from repoclimate.sensors.reading import Reading
from tests.alerts.test_golden import END, Derived, alerts_of, due, history, network, rows_of, same
from tests.servers import InfluxDB

SETTLE_S = 1800.0


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty readings store of each kind."""
    if request.param == "sqlite":
        settings = StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite")
    else:
        server: InfluxDB = request.getfixturevalue("influxdb")
        database = request.getfixturevalue("influx_db_name")
        settings = StoreSettings(
            kind="influxdb", url=server.url, database=database, api_version="v1"
        )
    opened = open_store(settings)
    yield opened
    opened.close()


class CountingSource(StoreSource):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.readings_read = 0

    def raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        found = super().raw(sensor, start, end)
        self.readings_read += len(found)
        return found


def readings(s: SensorSeries, site: str, room: str, lo: float, hi: float) -> list[Reading]:
    """The readings of ``s`` with ``lo < time <= hi``."""
    keep = (s.times > lo) & (s.times <= hi)
    return [
        Reading(
            s.sensor,
            datetime.fromtimestamp(float(t), UTC),
            None if np.isnan(a) else float(a),
            None if np.isnan(b) else float(b),
            None if np.isnan(c) else float(c),
            site=site,
            room=room,
        )
        for t, a, b, c in zip(
            s.times[keep], s.temperature[keep], s.humidity[keep], s.battery[keep], strict=True
        )
    ]


def test_reading_only_what_arrived_gives_the_alerts_of_reading_whole_windows(
    store: Store,
) -> None:
    topology = network(sites=2, rooms_per_site=2, sensors_per_room=4)
    first = END - timedelta(hours=8)
    series = history(topology, END - timedelta(days=6), END)
    place = {s.id: (s.site, s.room) for s in topology.sensors()}
    begin = (END - timedelta(days=7)).timestamp()
    for sid, s in series.items():
        store.write(readings(s, *place[sid], begin, first.timestamp()))

    whole = CountingSource(store)
    incremental = IncrementalStoreSource(store, settle_s=SETTLE_S)
    runs = []
    for source in (whole, incremental):
        derived = Derived()
        state = AlertStore(":memory:")
        engine = AlertEngine(
            derived,  # type: ignore[arg-type]
            topology,
            state,
            RulesConfig.builtin(),
            source=source,
        )
        runs.append((engine, state, derived))
    late = "x0-0-2"  # this sensor (its damp spell)'s readings reach the store twenty minutes late
    written = {sid: first.timestamp() for sid in series}
    for t in np.arange(first.timestamp() + 300.0, END.timestamp() + 1.0, 300.0):
        for sid, s in series.items():
            upto = float(t) - (1200.0 if sid == late else 0.0)
            store.write(readings(s, *place[sid], written[sid], upto))
            written[sid] = max(written[sid], upto)
        now = from_epoch(float(t))
        classes = due(runs[0][0], float(t))
        for engine, _, _ in runs:
            engine.run(now, classes)
        assert same(alerts_of(runs[1][1]), alerts_of(runs[0][1])), now
        assert same(rows_of(runs[1][2].rows), rows_of(runs[0][2].rows)), now
    assert len(alerts_of(runs[0][1])) > 10
    assert runs[0][2].rows
    # the first cycle reads the windows whole (and the first mould and decay runs, whose hourly
    # windows reach further back); then each reads about the settle window, all sensors in
    # one query (two with the hourly means), and on the SQLite store one more (at most one per
    # means block more) for what arrived since the last
    assert incremental.readings_read < whole.readings_read / 5
    cycles = len(np.arange(first.timestamp() + 300.0, END.timestamp() + 1.0, 300.0))
    assert incremental.queries - incremental.arrival_queries <= 4 * len(series) + 2 * cycles
    assert incremental.arrival_queries <= 3 * cycles


RAW_S = 6 * 3600.0
HOURLY_S = 30 * 3600.0
GAP_H = 3


def same_raw(a: SensorSeries, b: SensorSeries) -> bool:
    return a.start == b.start and all(
        np.array_equal(getattr(a, q), getattr(b, q), equal_nan=True)
        for q in ("times", "temperature", "humidity", "battery")
    )


def same_hourly(a: HourlySeries, b: HourlySeries) -> bool:
    return all(
        np.array_equal(getattr(a, q), getattr(b, q), equal_nan=True)
        for q in ("hours", "temperature", "humidity")
    )


def reading(sensor: str, at: float, k: int) -> Reading:
    t = 18.0 + 0.01 * (k % 37) + (0.5 if k % 11 == 0 else 0.0)
    h = 45.0 + 0.1 * (k % 23)
    battery = 90.0 if k % 12 == 0 else None
    return Reading(sensor, from_epoch(at), t, h if k % 9 else None, battery, site="s", room="r")


@pytest.mark.parametrize("bulk", [True, False])
def test_windows_are_the_whole_reads_through_late_readings_and_a_restart(
    store: Store, bulk: bool
) -> None:
    sensors = ["a", "b", "c"]
    t0 = END.timestamp() - 2 * 86400.0
    store.write(  # "c" silent for 5 h: longer than the hourly means are carried (GAP_H)
        [
            reading(s, t0 - k * 300.0, k + 7 * i)
            for i, s in enumerate(sensors)
            for k in range(400)
            if s != "c" or not 30 <= k < 90
        ]
    )
    whole = StoreSource(store)
    source = IncrementalStoreSource(store, settle_s=1800.0, bulk=bulk)

    def check(src: IncrementalStoreSource, end: float, asked: list[str]) -> None:
        for s in asked:
            assert same_raw(src.raw(s, end - RAW_S, end), whole.raw(s, end - RAW_S, end)), s
            hourly = src.hourly(s, end - HOURLY_S, end, GAP_H)
            assert same_hourly(hourly, whole.hourly(s, end - HOURLY_S, end, GAP_H)), s

    check(source, t0, sensors)
    queries = source.queries
    end = t0
    for n in range(1, 25):
        end = t0 + 300.0 * n
        store.write([reading(s, end, n + 100) for s in sensors])
        if n == 5:  # arrives 25 min late: inside the settle window
            store.write([reading("a", end - 1500.0 + 1.0, 999)])
        if n == 8:  # a battery level merged into a stored reading, 10 min back
            store.write(
                [Reading("b", from_epoch(end - 600.0), None, None, 55.0, site="s", room="r")]
            )
        check(source, end, sensors)
        if n == 12:  # a sensor asked for the first time: read whole, the others as before
            store.write([reading("d", end - k * 300.0, k) for k in range(100)])
            check(source, end, ["d"])
            sensors.append("d")
    if bulk:  # after the first cycle, one query for the readings and one for the means, and
        # the hourly windows prepared together (all but the new sensor's first)
        assert source.queries - queries <= 2 * 24 + 2
        assert source.prepared >= 3 * 23
    else:
        assert source.queries - queries >= 2 * 3 * 24

    # a reading later than the settle window is not seen again, until the source is rebuilt
    store.write([reading("c", end - 2 * 3600.0 + 1.0, 5)])
    end += 300.0
    store.write([reading(s, end, 7) for s in sensors])
    seen = source.raw("c", end - RAW_S, end)
    assert not same_raw(seen, whole.raw("c", end - RAW_S, end))
    restarted = IncrementalStoreSource(store, settle_s=1800.0, bulk=bulk)
    check(restarted, end, sensors)
    source.clear()
    check(source, end, sensors)
    for n in range(1, 4):  # and both go on reading only what arrived
        end += 300.0
        store.write([reading(s, end, n) for s in sensors])
        check(restarted, end, sensors)
        check(source, end, sensors)
