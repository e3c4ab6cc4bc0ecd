"""An independent recomputation of rollups from raw readings, and fresh stores of each kind,
for the rollup and retention tests."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from repoclimate.history import DerivedRow, HistoryStore, StoreSettings
from repoclimate.history.influx import InfluxStore
from repoclimate.history.rollups import DERIVED_FIELDS, Period, derived_key
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import AggregatePoint, SeriesStats
from repoclimate.sensors.reading import Reading
from tests.servers import InfluxDB

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def final_state(batches: Iterable[Iterable[Reading]]) -> list[Reading]:
    """What a store holds after the batches: one reading per sensor and time, fields merged."""
    held: dict[tuple[str, datetime], Reading] = {}
    for batch in batches:
        for r in batch:
            old = held.get((r.sensor, r.time))
            if old is not None:
                r = Reading(
                    r.sensor,
                    r.time,
                    r.temperature if r.temperature is not None else old.temperature,
                    r.humidity if r.humidity is not None else old.humidity,
                    None,
                    None,
                    r.site or old.site,
                    r.room or old.room,
                )
            held[(r.sensor, r.time)] = r
    return list(held.values())


def expected(
    readings: Iterable[Reading],
    every: timedelta,
    *,
    sensor: str | None = None,
    site: str | None = None,
    room: str | None = None,
) -> list[AggregatePoint]:
    """Mean, min, max and count per epoch-aligned interval of a sensor's or a room's readings."""
    buckets: dict[datetime, list[Reading]] = {}
    for r in readings:
        if sensor is not None and r.sensor != sensor:
            continue
        if sensor is None and (r.site, r.room) != (site, room):
            continue
        start = EPOCH + (r.time - EPOCH) // every * every
        buckets.setdefault(start, []).append(r)
    out = []
    for start in sorted(buckets):
        ts = [r.temperature for r in buckets[start] if r.temperature is not None]
        hs = [r.humidity for r in buckets[start] if r.humidity is not None]
        if not ts and not hs:
            continue
        out.append(
            AggregatePoint(
                start,
                math.fsum(ts) / len(ts) if ts else None,
                min(ts, default=None),
                max(ts, default=None),
                math.fsum(hs) / len(hs) if hs else None,
                min(hs, default=None),
                max(hs, default=None),
                max(len(ts), len(hs)),
            )
        )
    return out


def assert_same(got: list[AggregatePoint], want: list[AggregatePoint]) -> None:
    """Equal bucket times and counts, values equal to floating-point rounding."""
    assert [(p.time, p.count) for p in got] == [(p.time, p.count) for p in want]
    for g, w in zip(got, want, strict=True):
        for name in (
            "temperature_mean",
            "temperature_min",
            "temperature_max",
            "humidity_mean",
            "humidity_min",
            "humidity_max",
        ):
            a, b = getattr(g, name), getattr(w, name)
            assert (a is None) == (b is None), (g.time, name, a, b)
            if a is not None:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (g.time, name, a, b)


def final_derived(batches: Iterable[Iterable[DerivedRow]]) -> list[DerivedRow]:
    """What a store holds after the batches of derived rows: one row per tags and time, with the
    fields of later rows replacing and adding to the earlier ones."""
    held: dict[tuple[tuple[tuple[str, str], ...], str, datetime], DerivedRow] = {}
    for batch in batches:
        for row in batch:
            key = (tuple(sorted(row.tags.items())), row.measurement, row.time)
            old = held.get(key)
            fields = {**(old.fields if old is not None else {}), **row.fields}
            held[key] = DerivedRow(row.measurement, row.tags, fields, row.time)
    return list(held.values())


def expected_derived(
    rows: Iterable[DerivedRow], every: timedelta, owner: tuple[str, str, str]
) -> dict[datetime, dict[str, SeriesStats]]:
    """Mean, min, max and count of each derived field per epoch-aligned interval of the rows of
    one owner (``(sensor, "", "")`` or ``("", site, room)``); intervals without values left out."""
    values: dict[datetime, dict[str, list[float]]] = {}
    for row in rows:
        if derived_key(dict(row.tags)) != owner:
            continue
        start = EPOCH + (row.time - EPOCH) // every * every
        for name in DERIVED_FIELDS:
            if name in row.fields:
                values.setdefault(start, {}).setdefault(name, []).append(row.fields[name])
    return {
        start: {
            name: SeriesStats(math.fsum(vs) / len(vs), min(vs), max(vs), len(vs))
            for name, vs in fields.items()
        }
        for start, fields in values.items()
    }


def assert_same_derived(
    got: list[AggregatePoint], want: dict[datetime, dict[str, SeriesStats]]
) -> None:
    """The derived stats of the buckets that have any equal the expected ones (to rounding)."""
    have = {p.time: dict(p.derived) for p in got if p.derived}
    assert sorted(have) == sorted(want)
    for time, fields in want.items():
        assert sorted(have[time]) == sorted(fields), time
        for name, w in fields.items():
            g = have[time][name]
            assert g.count == w.count, (time, name)
            for stat in ("mean", "min", "max"):
                a, b = getattr(g, stat), getattr(w, stat)
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (time, name, stat, a, b)


class RollupStore(HistoryStore, Protocol):
    """What the rollup and retention tests need of a store (both concrete stores offer it)."""

    def rollups(
        self,
        period: Period,
        start: datetime,
        end: datetime,
        *,
        sensor: str | None = None,
        site: str | None = None,
        room: str | None = None,
    ) -> list[AggregatePoint]: ...

    def rebuild_rollups(self, start: datetime, end: datetime) -> int: ...

    def prune_raw(self, before: datetime) -> int: ...


_names = itertools.count()


class StoreMaker:
    """Fresh empty stores of one kind: SQLite files, or databases on the session InfluxDB."""

    def __init__(
        self,
        kind: str,
        tmp: Path,
        influxdb: InfluxDB | None,
        *,
        rollup_retention_policy: str | None = None,
    ) -> None:
        self.kind, self.tmp, self.influxdb = kind, tmp, influxdb
        self.rollup_retention_policy = rollup_retention_policy
        self.opened: list[RollupStore] = []

    def __call__(self) -> RollupStore:
        number = next(_names)
        store: RollupStore
        if self.influxdb is None:
            store = SQLiteStore(self.tmp / f"store{number}.sqlite")
        else:
            name = f"rollups{number}"
            self.influxdb.create_database(name)
            store = InfluxStore(
                StoreSettings(
                    kind="influxdb",
                    url=self.influxdb.url,
                    database=name,
                    api_version="v1",
                    rollup_retention_policy=self.rollup_retention_policy,
                )
            )
        self.opened.append(store)
        return store

    def wipe_rollups(self, store: RollupStore) -> None:
        """Lose every rollup (as if written by a version without them)."""
        if isinstance(store, SQLiteStore):
            connection = store._connection()
            connection.execute("DELETE FROM climate_1h")
            connection.execute("DELETE FROM climate_1d")
        else:
            assert isinstance(store, InfluxStore)
            # DROP MEASUREMENT drops the measurement in every retention policy
            store._query("DROP MEASUREMENT climate_1h", method="POST")
            store._query("DROP MEASUREMENT climate_1d", method="POST")

    def close(self) -> None:
        for store in self.opened:
            store.close()
