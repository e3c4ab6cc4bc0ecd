"""Hourly and daily rollups (``climate_1h``, ``climate_1d``) of the readings, per sensor and room.

A rollup bucket holds the mean, minimum, maximum and count of temperature [°C] and relative
humidity [%RH] over one interval. Buckets are aligned to the Unix epoch, so hours start on the
hour and **days are UTC days** (00:00–24:00 UTC), not site-local days. Per-sensor buckets are keyed
by the sensor id; per-room buckets by site and room and cover every sensor placed in the room.

The SQLite store keeps them in the tables of the same names, maintained by its write path (or,
with ``defer_rollups``, marked in ``pending_hours`` by the write and recomputed by
``flush_rollups``): every
write marks the (sensor, hour) and (site, room, hour) buckets its readings fall in, recomputes
them from the raw readings in the same transaction and marks their days stale (``stale_days``);
stale days are recomputed from the hourly buckets before daily rollups are read (recomputing
them on every write re-read every hour of the day each time: 78 s instead of 47 s CPU for a day
of 10 000 sensors). A late reading (spool drain, import) therefore updates the buckets it falls
in. The InfluxDB store does the same with queries (`InfluxStore.flush_rollups`), days at once,
into ``store.rollup_retention_policy`` when set. Site-local days are combined from the hours
(`repoclimate.history.localdays`).

Days are combined from hours (count-weighted means), so they stay right after retention has
removed the raw readings; a rebuild (``rebuild_rollups``) recomputes only buckets that still have
raw readings and never removes one, so it is idempotent and safe after retention.

Derived series — dew point, mould risk factor, VTT mould index, preservation index and EMC
(`DERIVED_FIELDS`) — are rolled up beside the readings where the derived rows exist: the
alert engine writes one ``preservation`` row per sensor (tag ``scope=sensor``) and per room
(``scope=room``) and hour, and a rollup bucket carries ``<field>_mean``, ``_min``, ``_max`` and
``_count`` over the rows in it. Writing derived rows refreshes their buckets as writing readings
does; a bucket may hold derived values and no readings (counts 0) when the raw readings are gone.

This module holds the SQL shared by those paths; the store runs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from repoclimate.history.store import AggregatePoint, SeriesStats
from repoclimate.history.timestamps import EPOCH

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS

Period = Literal["1h", "1d"]
TABLES: dict[Period, str] = {"1h": "climate_1h", "1d": "climate_1d"}
"""The rollup table (SQLite) or measurement (InfluxDB) of each period."""

PRESERVATION = "preservation"
"""The measurement of the derived rows (`repoclimate.history.derived.PRESERVATION`)."""

DERIVED_FIELDS = (
    "dew_point",
    "mould_risk_factor",
    "vtt_mould_index",
    "preservation_index",
    "emc",
)
"""Derived series rolled up (``preservation`` field names): dew point [°C], IPI mould risk
factor, VTT mould index, IPI preservation index [years], wood EMC [%]."""

QUANTITIES = ("temperature", "humidity", *DERIVED_FIELDS)
"""Every rolled-up series; each has ``_mean``, ``_min``, ``_max`` and ``_count`` columns."""

STATS = ("mean", "min", "max", "count")

_DERIVED_COLUMNS = "".join(
    f"    {name}_mean REAL,\n    {name}_min REAL,\n    {name}_max REAL,\n"
    f"    {name}_count INTEGER NOT NULL DEFAULT 0,\n"
    for name in DERIVED_FIELDS
)

_COLUMNS = f"""
    sensor TEXT NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    temperature_mean REAL,
    temperature_min REAL,
    temperature_max REAL,
    temperature_count INTEGER NOT NULL,
    humidity_mean REAL,
    humidity_min REAL,
    humidity_max REAL,
    humidity_count INTEGER NOT NULL,
{_DERIVED_COLUMNS}    PRIMARY KEY (sensor, site, room, time_ns)
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS climate_1h ({_COLUMNS}) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS climate_1d ({_COLUMNS}) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_room ON readings (site, room, time_ns);
CREATE INDEX IF NOT EXISTS derived_sensor ON derived (
    measurement, json_extract(tags, '$.scope'), json_extract(tags, '$.sensor'), time_ns
);
CREATE INDEX IF NOT EXISTS derived_room ON derived (
    measurement, json_extract(tags, '$.scope'), json_extract(tags, '$.site'),
    json_extract(tags, '$.room'), time_ns
);
CREATE TABLE IF NOT EXISTS pending_hours (
    sensor TEXT NOT NULL, site TEXT NOT NULL, room TEXT NOT NULL, bucket INTEGER NOT NULL,
    PRIMARY KEY (sensor, site, room, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stale_days (
    sensor TEXT NOT NULL, site TEXT NOT NULL, room TEXT NOT NULL, day INTEGER NOT NULL,
    PRIMARY KEY (sensor, site, room, day)
) WITHOUT ROWID;
"""
"""Rollup tables; a sensor's rows have empty ``site`` and ``room``, a room's an empty ``sensor``."""

DERIVED_COLUMN_DEFINITIONS = {
    f"{name}_{stat}": "INTEGER NOT NULL DEFAULT 0" if stat == "count" else "REAL"
    for name in DERIVED_FIELDS
    for stat in STATS
}
"""The derived columns, added to rollup tables of files written before they existed."""

TEMP_SCHEMA = """
CREATE TEMP TABLE IF NOT EXISTS touched (
    sensor TEXT NOT NULL, site TEXT NOT NULL, room TEXT NOT NULL, bucket INTEGER NOT NULL,
    PRIMARY KEY (sensor, site, room, bucket)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS touched_derived (
    sensor TEXT NOT NULL, site TEXT NOT NULL, room TEXT NOT NULL, bucket INTEGER NOT NULL,
    PRIMARY KEY (sensor, site, room, bucket)
) WITHOUT ROWID;
"""
"""The per-connection tables of buckets a write touched: by readings (``touched``) and by
derived rows (``touched_derived``); SQLite temp tables are per connection."""

MARK = "INSERT OR IGNORE INTO touched (sensor, site, room, bucket) VALUES (?, ?, ?, ?)"
MARK_DERIVED = (
    "INSERT OR IGNORE INTO touched_derived (sensor, site, room, bucket) VALUES (?, ?, ?, ?)"
)

_RAW_NAMES = [f"{q}_{stat}" for q in ("temperature", "humidity") for stat in STATS]
_DERIVED_NAMES = [f"{q}_{stat}" for q in DERIVED_FIELDS for stat in STATS]
ALL_NAMES = _RAW_NAMES + _DERIVED_NAMES
"""Every value column of a rollup table, in table order."""


def _set(names: list[str]) -> str:
    return ",\n    ".join(f"{name} = excluded.{name}" for name in names)


_KEY = "ON CONFLICT (sensor, site, room, time_ns) DO UPDATE SET\n    "
_UPDATE = _KEY + _set(_RAW_NAMES)
_UPDATE_DERIVED = _KEY + _set(_DERIVED_NAMES)
_UPDATE_ALL = _KEY + _set(ALL_NAMES)

_RAW_AGGREGATES = """
    avg(r.temperature), min(r.temperature), max(r.temperature), count(r.temperature),
    avg(r.humidity), min(r.humidity), max(r.humidity), count(r.humidity)
"""


def _field(name: str) -> str:
    return f"json_extract(d.fields, '$.{name}')"


_DERIVED_AGGREGATES = ",\n    ".join(
    f"avg({_field(n)}), min({_field(n)}), max({_field(n)}), count({_field(n)})"
    for n in DERIVED_FIELDS
)
_RAW_INTO = f"climate_1h (sensor, site, room, time_ns, {', '.join(_RAW_NAMES)})"
_DERIVED_INTO = (
    "climate_1h (sensor, site, room, time_ns, temperature_count, humidity_count, "
    f"{', '.join(_DERIVED_NAMES)})"
)

RECOMPUTE_HOURS = [
    # Sensor buckets from the raw readings of the touched (sensor, hour) pairs. Grouped in the
    # order of touched's key (site and room are '' here), so SQLite aggregates as it goes
    # instead of sorting every joined reading first (a year of minute rows: 0.6-0.8 -> 0.47 s).
    f"""
    INSERT INTO {_RAW_INTO}
    SELECT t.sensor, '', '', t.bucket, {_RAW_AGGREGATES}
    FROM touched t JOIN readings r
        ON t.sensor > '' AND r.sensor = t.sensor
        AND r.time_ns >= t.bucket AND r.time_ns < t.bucket + {HOUR_NS}
    GROUP BY t.sensor, t.site, t.room, t.bucket
    HAVING count(r.temperature) + count(r.humidity) > 0
    {_UPDATE}
    """,
    # Room buckets from the raw readings of every sensor in the touched (site, room, hour).
    f"""
    INSERT INTO {_RAW_INTO}
    SELECT '', t.site, t.room, t.bucket, {_RAW_AGGREGATES}
    FROM touched t JOIN readings r
        ON t.sensor = '' AND r.site = t.site AND r.room = t.room
        AND r.time_ns >= t.bucket AND r.time_ns < t.bucket + {HOUR_NS}
    GROUP BY t.site, t.room, t.bucket
    HAVING count(r.temperature) + count(r.humidity) > 0
    {_UPDATE}
    """,
]

# CROSS JOIN keeps the touched buckets as the outer loop (SQLite never reorders it), and the
# unary + strips the TEXT affinity of t's columns (which SQLite would otherwise apply to the
# json_extract side, ruling out the expression index), so each bucket is one search of the
# derived_sensor / derived_room index. Without both, a cycle of the alert engine's 11 000 rows
# scanned the derived table per bucket: 20 s instead of well under one.
RECOMPUTE_DERIVED_HOURS = [
    # Sensor buckets from the sensor's derived rows (scope "sensor") in the touched hours.
    f"""
    INSERT INTO {_DERIVED_INTO}
    SELECT t.sensor, '', '', t.bucket, 0, 0, {_DERIVED_AGGREGATES}
    FROM touched_derived t CROSS JOIN derived d
    WHERE t.sensor != '' AND d.measurement = '{PRESERVATION}'
        AND json_extract(d.tags, '$.scope') = 'sensor'
        AND json_extract(d.tags, '$.sensor') = +t.sensor
        AND d.time_ns >= t.bucket AND d.time_ns < t.bucket + {HOUR_NS}
    GROUP BY t.sensor, t.bucket
    {_UPDATE_DERIVED}
    """,
    # Room buckets from the room's own derived rows (scope "room").
    f"""
    INSERT INTO {_DERIVED_INTO}
    SELECT '', t.site, t.room, t.bucket, 0, 0, {_DERIVED_AGGREGATES}
    FROM touched_derived t CROSS JOIN derived d
    WHERE t.sensor = '' AND d.measurement = '{PRESERVATION}'
        AND json_extract(d.tags, '$.scope') = 'room'
        AND json_extract(d.tags, '$.site') = +t.site
        AND json_extract(d.tags, '$.room') = +t.room
        AND d.time_ns >= t.bucket AND d.time_ns < t.bucket + {HOUR_NS}
    GROUP BY t.site, t.room, t.bucket
    {_UPDATE_DERIVED}
    """,
]


ROOM_OF_ONE_SENSOR = """
SELECT NOT EXISTS (
    SELECT 1 FROM readings
    WHERE site = ?1 AND room = ?2 AND time_ns >= ?4 AND time_ns < ?5 AND sensor != ?3
) AND NOT EXISTS (
    SELECT 1 FROM readings
    WHERE sensor = ?3 AND time_ns >= ?4 AND time_ns < ?5 AND (site IS NOT ?1 OR room IS NOT ?2)
)
"""
"""Whether, in ``[?4, ?5)``, room (``?1``, ``?2``) holds readings of sensor ``?3`` only, and that
sensor's readings are all in the room: then each of the room's hours there equals the sensor's
hour (the same raw rows, in the same time order), and `COPY_SENSOR_HOURS_TO_ROOM` gives it."""

COPY_SENSOR_HOURS_TO_ROOM = [
    f"""
    INSERT INTO {_RAW_INTO}
    SELECT '', ?1, ?2, h.time_ns, {", ".join(f"h.{name}" for name in _RAW_NAMES)}
    FROM touched t JOIN climate_1h h
        ON h.sensor = t.sensor AND h.site = '' AND h.room = '' AND h.time_ns = t.bucket
    WHERE t.sensor = ?3 AND t.site = '' AND t.room = ''
    {_UPDATE}
    """,
    "INSERT OR IGNORE INTO touched (sensor, site, room, bucket)"
    " SELECT '', ?1, ?2, bucket FROM touched WHERE sensor = ?3 AND site = '' AND room = ''",
]
"""After `RECOMPUTE_HOURS` (with only the sensor's hours marked): the room (``?1``, ``?2``)
buckets of sensor ``?3``'s touched hours copied from the sensor's, and marked touched so their
days go stale too. Only where `ROOM_OF_ONE_SENSOR` holds (the logger-file import checks it): the
general room query reads every reading again through the room index, ~0.6-0.9 s of a year of
minute rows."""


def _day_of(column: str) -> str:
    return f"{column} - (({column} % {DAY_NS}) + {DAY_NS}) % {DAY_NS}"


MARK_DAYS = [
    f"""
    INSERT OR IGNORE INTO stale_days (sensor, site, room, day)
    SELECT DISTINCT sensor, site, room, {_day_of("bucket")} FROM {table}
    """
    for table in ("touched", "touched_derived")
]
"""Days whose hours changed: recomputed when daily rollups are next read (or rebuilt)."""


def _day_aggregates(name: str) -> str:
    return (
        f"sum(h.{name}_mean * h.{name}_count) / nullif(sum(h.{name}_count), 0),"
        f" min(h.{name}_min), max(h.{name}_max), sum(h.{name}_count)"
    )


_DAY_AGGREGATES = ",\n    ".join(_day_aggregates(name) for name in QUANTITIES)

RECOMPUTE_DAYS = f"""
INSERT INTO climate_1d (sensor, site, room, time_ns, {", ".join(ALL_NAMES)})
SELECT h.sensor, h.site, h.room, d.day,
    {_DAY_AGGREGATES}
FROM stale_days d JOIN climate_1h h
    ON h.sensor = d.sensor AND h.site = d.site AND h.room = d.room
    AND h.time_ns >= d.day AND h.time_ns < d.day + {DAY_NS}
GROUP BY h.sensor, h.site, h.room, d.day
{_UPDATE_ALL}
"""

MARK_PENDING = (
    "INSERT OR IGNORE INTO pending_hours (sensor, site, room, bucket) VALUES (?, ?, ?, ?)"
)
"""Deferred rollups (SQLite ``defer_rollups``): the write marks its buckets in this durable
table, in its own transaction, and `TAKE_PENDING` moves them to ``touched`` when flushed."""
TAKE_PENDING = [
    "INSERT OR IGNORE INTO touched SELECT sensor, site, room, bucket FROM pending_hours",
    "DELETE FROM pending_hours",
]
ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM pending_hours)"

CLEAR = ["DELETE FROM touched", "DELETE FROM touched_derived"]
CLEAR_DAYS = "DELETE FROM stale_days"
ANY_STALE = "SELECT EXISTS (SELECT 1 FROM stale_days)"


def _hour_of(column: str) -> str:
    return f"{column} - (({column} % {HOUR_NS}) + {HOUR_NS}) % {HOUR_NS}"


MARK_RANGE = [
    f"""
    INSERT OR IGNORE INTO touched (sensor, site, room, bucket)
    SELECT DISTINCT sensor, '', '', {_hour_of("time_ns")}
    FROM readings WHERE time_ns >= ?1 AND time_ns < ?2
    UNION
    SELECT DISTINCT '', site, room, {_hour_of("time_ns")}
    FROM readings WHERE time_ns >= ?1 AND time_ns < ?2 AND site IS NOT NULL AND room IS NOT NULL
    """,
    f"""
    INSERT OR IGNORE INTO touched_derived (sensor, site, room, bucket)
    SELECT DISTINCT json_extract(tags, '$.sensor'), '', '', {_hour_of("time_ns")}
    FROM derived WHERE measurement = '{PRESERVATION}' AND time_ns >= ?1 AND time_ns < ?2
        AND json_extract(tags, '$.scope') = 'sensor' AND json_extract(tags, '$.sensor') != ''
    UNION
    SELECT DISTINCT '', json_extract(tags, '$.site'), json_extract(tags, '$.room'),
        {_hour_of("time_ns")}
    FROM derived WHERE measurement = '{PRESERVATION}' AND time_ns >= ?1 AND time_ns < ?2
        AND json_extract(tags, '$.scope') = 'room'
        AND json_extract(tags, '$.site') != '' AND json_extract(tags, '$.room') != ''
    """,
]
"""Marks every bucket holding raw readings or derived rows in ``[?1, ?2)``: the rebuild's set."""

SELECT_COLUMNS = ", ".join(["time_ns", *ALL_NAMES])
"""The columns `row_stats` reads, in order."""


def hour_of(time_ns: int) -> int:
    """The start of the epoch-aligned hour holding ``time_ns`` [ns]."""
    return time_ns - time_ns % HOUR_NS


def derived_key(tags: dict[str, str] | None) -> tuple[str, str, str] | None:
    """The rollup owner of a ``preservation`` row's tags: ``(sensor, "", "")`` for a sensor's
    row (``scope=sensor``), ``("", site, room)`` for a room's (``scope=room``), else None."""
    if not tags:
        return None
    scope = tags.get("scope")
    if scope == "sensor" and tags.get("sensor"):
        return (tags["sensor"], "", "")
    if scope == "room" and tags.get("site") and tags.get("room"):
        return ("", tags["site"], tags["room"])
    return None


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def point(time: datetime, values: Mapping[str, Any]) -> AggregatePoint:
    """A rollup bucket as an `AggregatePoint` from its named values (``temperature_mean`` …);
    derived series without values in the bucket are left out of ``derived``."""
    t_count = int(values.get("temperature_count") or 0)
    h_count = int(values.get("humidity_count") or 0)
    derived: dict[str, SeriesStats] = {}
    for name in DERIVED_FIELDS:
        count = int(values.get(f"{name}_count") or 0)
        if count and values.get(f"{name}_mean") is not None:
            derived[name] = SeriesStats(
                float(values[f"{name}_mean"]),
                float(values[f"{name}_min"]),
                float(values[f"{name}_max"]),
                count,
            )
    return AggregatePoint(
        time=time,
        temperature_mean=_opt(values.get("temperature_mean")),
        temperature_min=_opt(values.get("temperature_min")),
        temperature_max=_opt(values.get("temperature_max")),
        humidity_mean=_opt(values.get("humidity_mean")),
        humidity_min=_opt(values.get("humidity_min")),
        humidity_max=_opt(values.get("humidity_max")),
        count=max(t_count, h_count),
        temperature_count=t_count,
        humidity_count=h_count,
        derived=derived,
    )


_DERIVED_OFFSETS = tuple(
    (name, 9 + 4 * i, 10 + 4 * i, 11 + 4 * i, 12 + 4 * i) for i, name in enumerate(DERIVED_FIELDS)
)
"""Each derived series and the indexes of its mean, min, max and count in a `SELECT_COLUMNS`
row."""
_DERIVED_COUNTS = slice(12, 9 + 4 * len(DERIVED_FIELDS), 4)
"""The derived series' counts in a `SELECT_COLUMNS` row."""


def points(rows: Iterable[Sequence[Any]]) -> list[AggregatePoint]:
    """The `AggregatePoint` of each rollup row read as `SELECT_COLUMNS`, in order.

    Equal to ``point(from_ns(row[0]), dict(zip(ALL_NAMES, row[1:])))`` per row, without its
    per-row dict and name lookups (a 720-hour read spent most of its time there). The value
    columns have REAL affinity and the counts are ``INTEGER NOT NULL``, so SQLite already returns
    floats (or None) and ints; only a derived series with a non-zero count gets a `SeriesStats`.
    """
    out: list[AggregatePoint] = []
    append = out.append
    epoch = EPOCH
    delta = timedelta
    stats = SeriesStats
    for row in rows:
        time_ns, t_mean, t_min, t_max, t_count, h_mean, h_min, h_max, h_count = row[:9]
        derived: dict[str, SeriesStats] = {}
        if any(row[_DERIVED_COUNTS]):
            for name, mean, low, high, count in _DERIVED_OFFSETS:
                if row[count] and row[mean] is not None:
                    derived[name] = stats(
                        float(row[mean]), float(row[low]), float(row[high]), int(row[count])
                    )
        t_count = int(t_count or 0)
        h_count = int(h_count or 0)
        append(
            AggregatePoint(
                epoch + delta(0, 0, time_ns // 1000),  # = timestamps.from_ns, positional: faster
                t_mean,
                t_min,
                t_max,
                h_mean,
                h_min,
                h_max,
                t_count if t_count >= h_count else h_count,
                t_count,
                h_count,
                derived,
            )
        )
    return out
