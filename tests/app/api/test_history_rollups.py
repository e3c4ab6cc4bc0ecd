"""``every=1h|1d`` history answered from the rollups equals the raw aggregation — the same
intervals, minima, maxima and counts, means to within rounding — for aligned and unaligned
bounds, sensors and rooms, on the SQLite store and on the real InfluxDB; and the rollups are
really what answers."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from repoclimate.app.api import create_app
from repoclimate.app.api.history import SETTLE, rollup_span
from repoclimate.app.users import Role
from repoclimate.history.influx import InfluxStore
from repoclimate.history.store import HistoryStore
from repoclimate.sensors.durations import parse_duration
from repoclimate.sensors.reading import Reading
from tests.app.api.conftest import BASE_URL, NOW, World, _readings
from tests.ingest.helpers import influx_store
from tests.servers import InfluxDB

MEANS = ("temperature", "humidity")
EXACT = ("time", "sensor", "temperature_min", "temperature_max", "humidity_min")
EXACT += ("humidity_max", "count")
DAY = timedelta(days=1)


def _older_readings() -> list[Reading]:
    """Four more days of s1 and s2 at uneven times (every 7 min), some without humidity."""
    out = []
    first = NOW - 5 * DAY
    for step in range(4 * 24 * 60 // 7):
        when = first + timedelta(minutes=7 * step, seconds=step % 13)
        humidity = None if step % 11 == 0 else 40.0 + (step * 37 % 200) / 10
        for n, sensor in enumerate(("s1", "s2")):
            t = 15.0 + ((step * 17 + n * 5) % 100) / 10
            out.append(Reading(sensor, when, t, humidity, site="city", room="stack-1"))
    return out


WINDOWS: list[tuple[str, str | None, str | None, str]] = [
    ("hours aligned", "-4d", "+0", "1h"),
    ("hours aligned past now", "-3d", "+1h", "1h"),
    ("hours unaligned", "-4d+7m", "-13m", "1h"),
    ("hours default window", None, None, "1h"),
    ("inside one hour", "-1h55m", "-1h25m", "1h"),
    ("days aligned", "-5d", "+1d", "1d"),
    ("days unaligned", "-5d+3h+1m", "-2h", "1d"),
    ("days default window", None, None, "1d"),
    ("five minutes (raw only)", "-1d", "+0", "5m"),
]


def _when(offset: str | None) -> str | None:
    """``-4d+7m`` → NOW − 4 days + 7 minutes, as ISO text (None stays None)."""
    if offset is None:
        return None
    total = timedelta()
    for part in offset.replace("-", " -").replace("+", " +").split():
        sign = -1 if part[0] == "-" else 1
        total += sign * (parse_duration(part[1:]) if part[1:] != "0" else timedelta())
    return (NOW + total).isoformat()


def _history(
    world: World, app: FastAPI, path: str, start: str | None, end: str | None, every: str
) -> list[Any]:
    params = {"every": every} | {k: v for k, v in (("start", start), ("end", end)) if v}
    headers = {"Authorization": f"Bearer {world.tokens[Role.VIEWER]}"}
    answer = TestClient(app, base_url=BASE_URL, headers=headers).get(path, params=params)
    assert answer.status_code == 200, answer.text
    points: list[Any] = answer.json()["points"]
    return points


def _assert_same(from_rollups: list[Any], raw: list[Any]) -> None:
    assert [{k: p[k] for k in EXACT} for p in from_rollups] == [
        {k: p[k] for k in EXACT} for p in raw
    ]
    for ours, theirs in zip(from_rollups, raw, strict=True):
        for name in MEANS:
            assert ours[name] == pytest.approx(theirs[name], rel=1e-12, abs=1e-12), ours["time"]


class RollupSpy:
    """Counts the rollup reads of a store (every other call goes through)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.calls: list[tuple[str, datetime, datetime]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def rollups(self, period: Any, start: datetime, end: datetime, **key: Any) -> Any:
        self.calls.append((period, start, end))
        return self.store.rollups(period, start, end, **key)

    def rollup_values(self, period: Any, start: datetime, end: datetime, **key: Any) -> Any:
        """The plain rows an SQLite store reads for the API (`history.ValueReads`)."""
        self.calls.append((period, start, end))
        return self.store.rollup_values(period, start, end, **key)


def _compare(world: World, store: HistoryStore) -> list[tuple[str, datetime, datetime]]:
    """Every window, for a sensor and a room, from rollups and raw; the rollup reads made."""
    spy = RollupSpy(store)
    with_rollups = create_app(dataclasses.replace(world.services, store=spy))  # type: ignore[arg-type]
    settings = world.services.settings.model_copy(deep=True)
    settings.api.history_rollups = False
    raw_only = create_app(dataclasses.replace(world.services, store=store, settings=settings))
    for label, start, end, every in WINDOWS:
        for path in ("/api/sensors/s1/history", "/api/sites/city/rooms/stack-1/history"):
            ours = _history(world, with_rollups, path, _when(start), _when(end), every)
            raw = _history(world, raw_only, path, _when(start), _when(end), every)
            assert raw, (label, path)
            _assert_same(ours, raw)
    return spy.calls


def _with_older(world: World) -> World:
    world.services.store.write(_older_readings())
    return world


def test_rollup_history_equals_the_raw_aggregation_on_sqlite(world: World) -> None:
    calls = _compare(_with_older(world), world.services.store)
    periods = {period for period, _start, _end in calls}
    assert periods == {"1h", "1d"}  # the rollups answered (and 5m never asked them)
    assert all(end <= NOW - SETTLE for _period, _start, end in calls)  # only settled ones


@pytest.fixture
def influx_world(world: World, influxdb: InfluxDB) -> Iterator[tuple[World, InfluxStore]]:
    store = influx_store(influxdb, f"api_rollups_{uuid.uuid4().hex[:8]}")
    store.write(_readings())
    store.write(_older_readings())
    yield world, store
    store.close()


def test_rollup_history_equals_the_raw_aggregation_on_influxdb(
    influx_world: tuple[World, InfluxStore],
) -> None:
    world, store = influx_world
    calls = _compare(world, store)
    assert {period for period, _start, _end in calls} == {"1h", "1d"}


def test_what_another_process_just_wrote_to_influxdb_is_in_the_answer(
    influx_world: tuple[World, InfluxStore], influxdb: InfluxDB
) -> None:
    """A collector elsewhere rolls up only every minute: the last intervals come from raw."""
    world, store = influx_world
    store.rollups("1h", NOW - DAY, NOW, sensor="s1")  # everything written so far rolled up
    collector = influx_store(influxdb, store.settings.database)
    try:
        recent = [
            Reading("s1", NOW - timedelta(minutes=m), 30.0 + m, 60.0, site="city", room="stack-1")
            for m in (1, 20, 40)
        ]
        collector.write(recent)  # not rolled up yet: that happens at its next write after 60 s
        app = create_app(dataclasses.replace(world.services, store=store))
        path = "/api/sensors/s1/history"
        points = _history(world, app, path, _when("-3h"), _when("+1h"), "1h")
        (hour,) = [p for p in points if p["time"].startswith("2026-06-01T11:00")]
        assert hour["temperature_max"] == 70.0
    finally:
        collector.close()


def test_rollups_answer_what_retention_removed(world: World) -> None:
    """Proof that the rollups answer: raw readings pruned, the hourly history remains."""
    store = _with_older(world).services.store
    start, end = _when("-5d"), _when("-2d")
    before = _history(world, world.app, "/api/sensors/s1/history", start, end, "1h")
    assert len(before) == 3 * 24
    store.prune_raw(NOW - 2 * DAY)
    assert store.history("s1", NOW - 5 * DAY, NOW - 2 * DAY) == []
    assert _history(world, world.app, "/api/sensors/s1/history", start, end, "1h") == before


def test_the_span_from_rollups_is_whole_settled_intervals() -> None:
    hour = timedelta(hours=1)
    start, end = NOW - 3 * hour + timedelta(minutes=5), NOW + hour
    assert rollup_span(start, end, hour, NOW) == (NOW - 2 * hour, NOW)
    assert rollup_span(NOW - 3 * hour, NOW - hour, hour, NOW) == (NOW - 3 * hour, NOW - hour)
    low, high = rollup_span(NOW + timedelta(minutes=5), NOW + timedelta(minutes=50), hour, NOW)
    assert high <= low
