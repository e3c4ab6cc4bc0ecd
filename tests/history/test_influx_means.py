"""InfluxDB 1.6's hourly ``mean()`` computed from the readings (`history.influxmeans`) is the
server's, bit for bit, on a real server: many hours, odd counts, values such as 0.1, huge and
tiny magnitudes, cancellations, negative zero, hours on both sides of a shard boundary; the
cases it cannot make exact (a sensor with two series, a shard boundary inside an hour) are
left to the server; and the incremental source, computing the means it reads again, gives the
alerts and derived rows of the reference evaluator reading the server's means."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.evaluate import StoreSource
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import from_epoch
from repoclimate.alerts.state import AlertStore
from repoclimate.history import StoreSettings, influxmeans, open_store
from repoclimate.history.influx import InfluxStore
from repoclimate.history.store import READING_COLUMNS, SensorBlocks
from repoclimate.sensors.reading import Reading
from tests.alerts.test_golden import END, Derived, alerts_of, due, history, network, rows_of, same
from tests.alerts.test_incremental import readings
from tests.servers import InfluxDB

SHARD_EDGE = datetime(2026, 5, 4, tzinfo=UTC)
"""A Monday: InfluxDB 1.6's 7-day shards of an infinite retention policy begin on Mondays."""
START = SHARD_EDGE - timedelta(hours=5)
HOURS = 9


def influx(server: InfluxDB, database: str) -> InfluxStore:
    store = open_store(
        StoreSettings(kind="influxdb", url=server.url, database=database, api_version="v1")
    )
    assert isinstance(store, InfluxStore)
    return store


@pytest.fixture
def store(influxdb: InfluxDB, influx_db_name: str) -> Iterator[InfluxStore]:
    opened = influx(influxdb, influx_db_name)
    yield opened
    opened.close()


def awkward(rng: np.random.Generator, n: int) -> list[float]:
    """Values whose sum depends on the order of the additions, and edge cases."""
    kind = int(rng.integers(6))
    if kind == 0:
        return [0.1] * n
    if kind == 1:
        return [float(v) for v in np.round(rng.normal(19.0, 3.0, n), 2)]
    if kind == 2:
        return [float(v) for v in rng.choice([1e16, -1e16, 1.0, 0.1, -0.0, 3.0], n)]
    if kind == 3:
        return [float(v) for v in rng.uniform(-1.0, 1.0, n) * 10.0 ** rng.integers(-300, 300, n)]
    if kind == 4:
        return [-0.0] * n
    return [float(v) for v in rng.normal(50.0, 20.0, n)]


def fill(store: InfluxStore, sensors: list[str], seed: int = 15) -> None:
    rng = np.random.default_rng(seed)
    hour_us = 3_600_000_000
    out = []
    for sensor in sensors:
        for hour in range(HOURS):
            n = int(rng.choice([1, 2, 3, 5, 7, 12, 13, 25, 40]))
            offsets = set(rng.integers(1, hour_us - 1, n).tolist()) | {0, hour_us - 1}
            at = sorted(offsets)[:n]
            ts, hs = awkward(rng, len(at)), awkward(rng, len(at))
            for k, us in enumerate(at):
                t = None if rng.random() < 0.15 else ts[k]
                h = None if rng.random() < 0.15 else hs[k]
                battery = 80.0 if t is None and h is None else None
                when = START + timedelta(hours=hour, microseconds=us)
                out.append(Reading(sensor, when, t, h, battery, site="s", room="r"))
    store.write(out)


def server_means(store: InfluxStore, sensors: list[str], first: int, columns: int) -> np.ndarray:
    blocks = store.hourly_blocks(sensors, START, START + timedelta(hours=HOURS))
    means = np.full((2, len(sensors), columns), np.nan)
    row = np.repeat(np.arange(len(sensors)), np.diff(blocks.offsets))
    column = blocks.times_ns // 3_600_000_000_000 - first
    means[:, row, column] = blocks.values
    return means


def client_means(raw: SensorBlocks, first: int, columns: int) -> np.ndarray:
    seconds = (raw.times_ns // 1000).astype(np.float64) / 1e6  # as the incremental source
    lo, hi = raw.offsets[:-1], raw.offsets[1:]
    return np.stack(
        [influxmeans.hour_means(lo, hi, seconds, raw.values[k], first, columns) for k in (0, 1)]
    )


def bits(a: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a), -1, a.view(np.int64))


def test_means_of_the_readings_are_the_servers_bit_for_bit(
    store: InfluxStore, influxdb: InfluxDB, influx_db_name: str
) -> None:
    sensors = [f"s{k}" for k in range(12)]
    fill(store, sensors)
    shards = influxdb.query("SHOW SHARDS")["results"][0]["series"]  # type: ignore[index]
    mine = [v for s in shards if s["name"] == influx_db_name for v in s["values"]]
    assert len(mine) == 2  # the hours on both sides of a shard boundary
    first, columns = int(START.timestamp()) // 3600, HOURS
    raw = store.history_blocks(sensors, START, START + timedelta(hours=HOURS))
    assert raw.fields == READING_COLUMNS
    server = server_means(store, sensors, first, columns)
    assert np.isfinite(server).sum() > 150
    assert np.array_equal(bits(client_means(raw, first, columns)), bits(server))
    exact = store.readings_mean_sensors(sensors, START, START + timedelta(hours=HOURS))
    assert exact is not None and exact.all()
    # the test tells: numpy's own (pairwise) sums, and sums out of time order, give other bits
    seconds = (raw.times_ns // 1000).astype(np.float64) / 1e6
    pairwise, backwards = np.full_like(server, np.nan), np.full_like(server, np.nan)
    for r in range(len(sensors)):
        lo, hi = raw.offsets[r], raw.offsets[r + 1]
        hour = (seconds[lo:hi] // 3600).astype(np.int64) - first
        for k in (0, 1):
            for c in range(columns):
                v = raw.values[k, lo:hi][(hour == c) & ~np.isnan(raw.values[k, lo:hi])]
                if v.size:
                    pairwise[k, r, c] = np.sum(v) / v.size
                    total = 0.0
                    for x in v[::-1].tolist():
                        total += x
                    backwards[k, r, c] = total / v.size
    assert not np.array_equal(bits(pairwise), bits(server))
    assert not np.array_equal(bits(backwards), bits(server))


def test_a_sensor_with_two_series_is_left_to_the_server(store: InfluxStore) -> None:
    fill(store, ["a", "moved"])
    span = (START, START + timedelta(hours=2))
    store.history_blocks(["a", "moved"], *span)
    assert store.readings_mean_sensors(["a", "moved"], *span).tolist() == [True, True]  # type: ignore[union-attr]
    store.write([Reading("moved", START + timedelta(minutes=1), 20.0, 50.0, site="s", room="r2")])
    # the listing is kept until the next read: the readings held were read before it
    assert store.readings_mean_sensors(["a", "moved"], *span).tolist() == [True, True]  # type: ignore[union-attr]
    store.history_blocks(["a", "moved"], *span)
    assert store.readings_mean_sensors(["a", "moved"], *span).tolist() == [True, False]  # type: ignore[union-attr]
    store.readings_means = False
    assert store.readings_mean_sensors(["a"], *span) is None


def test_an_hour_across_a_shard_boundary_is_left_to_the_server(
    influxdb: InfluxDB, influx_db_name: str
) -> None:
    database = influx_db_name + "odd"
    influxdb.query(f'CREATE DATABASE "{database}" WITH SHARD DURATION 90m')
    opened = influx(influxdb, database)
    try:
        fill(opened, ["a"])
        end = START + timedelta(hours=HOURS)
        assert opened.readings_mean_sensors(["a"], START, end) is None
        # within one 90-minute shard's whole hours: 00:00–01:00 of a shard from 00:00
        assert opened.readings_mean_sensors(["a"], SHARD_EDGE, SHARD_EDGE + timedelta(hours=1))
    finally:
        opened.close()


def test_whole_hour_shards_and_series_keys() -> None:
    hour = 3600.0
    assert influxmeans.whole_hour_shards([(0.0, 7 * 24 * hour)], 10 * hour, 12.5 * hour)
    assert not influxmeans.whole_hour_shards([(0.0, 5400.0)], 0.0, 2 * hour)
    assert influxmeans.whole_hour_shards([(0.0, 5400.0)], 2 * hour, 3 * hour)
    keys = ["climate,room=r,sensor=a,site=s", r"climate,room=r\,2,sensor=c\,o\ m\=a,site=s"]
    assert influxmeans.sensors_per_series([*keys, "climate,room=q,sensor=a"]) == {
        "a": 2,
        "c,o m=a": 1,
    }


def test_the_incremental_source_computing_the_means_gives_the_reference_answers(
    store: InfluxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    topology = network(sites=1, rooms_per_site=2, sensors_per_room=3)
    first = END - timedelta(hours=3)
    series = history(topology, END - timedelta(days=3), END)
    place = {s.id: (s.site, s.room) for s in topology.sensors()}
    for sid, s in series.items():
        store.write(
            readings(s, *place[sid], (END - timedelta(days=4)).timestamp(), first.timestamp())
        )
    asked: list[tuple[list[str], np.ndarray | None]] = []
    exact = store.readings_mean_sensors

    def spy(sensors: list[str], start: datetime, end: datetime) -> np.ndarray | None:
        answer = exact(sensors, start, end)
        asked.append((list(sensors), answer))
        return answer

    monkeypatch.setattr(store, "readings_mean_sensors", spy)
    incremental = IncrementalStoreSource(store, settle_s=1800.0)
    runs = []
    for source, evaluator in ((StoreSource(store), "reference"), (incremental, "fleet")):
        derived, state = Derived(), AlertStore(":memory:")
        engine = AlertEngine(
            derived,  # type: ignore[arg-type]
            topology,
            state,
            RulesConfig.builtin(),
            source=source,
            evaluator=evaluator,
        )
        runs.append((engine, state, derived))
    late, moved, silent = "x0-0-1", "x0-1-2", "x0-1-0"
    gap = (first.timestamp() + 2000.0, first.timestamp() + 6500.0)  # its readings never come
    written = {sid: first.timestamp() for sid in series}
    for t in np.arange(first.timestamp() + 300.0, END.timestamp() + 1.0, 300.0):
        for sid, s in series.items():
            upto = float(t) - (900.0 if sid == late else 0.0)  # inside the settle window
            site, room = place[sid]
            if sid == moved and t > first.timestamp() + 3600.0:  # a second series
                room = "elsewhere"
            if sid != silent or not gap[0] <= t <= gap[1]:  # a gap: the hours without means
                store.write(readings(s, site, room, written[sid], upto))
            written[sid] = max(written[sid], upto)
        classes = due(runs[0][0], float(t))
        for engine, _, _ in runs:
            engine.run(from_epoch(float(t)), classes)
        assert same(alerts_of(runs[1][1]), alerts_of(runs[0][1])), t
        assert same(rows_of(runs[1][2].rows), rows_of(runs[0][2].rows)), t
    assert len(alerts_of(runs[0][1])) >= 3 and runs[0][2].rows
    # each cycle's hours read again were computed here, but the moved sensor's (two series)
    assert len(asked) > 20
    left = {s for sensors, answer in asked for s, ok in zip(sensors, answer, strict=True) if not ok}
    assert left == {moved}
