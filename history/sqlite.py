"""The embedded store: readings in one SQLite file, for `repoclimate demo` and small sites.

Durability: the database runs in WAL mode with ``synchronous=FULL``. In WAL mode ``FULL`` syncs
the log on every commit, so once `SQLiteStore.write` returns the readings survive a process crash
*and* a power cut or OS crash, which is the promise the collector relies on when it acknowledges
the MQTT messages after the write. ``NORMAL`` would survive a process crash only (the last commits
may roll back on power loss) and the collector would have acknowledged readings that are gone. The
cost is one fsync per write call; the collector writes in batches, so it is small.

Rollups (`repoclimate.history.rollups`) are kept up to date by every write, in the same
transaction. With ``defer_rollups`` a write only marks the hours it touched in a durable table
(``pending_hours``, same transaction, so a crash loses no mark) and `SQLiteStore.flush_rollups`
recomputes them: the service's history job every minute, every rollup read first, and
`close`. What the store answers is therefore never stale; only the file between flushes is.

Arrivals: every write also logs, in its transaction, each sensor it wrote and the earliest
reading time it wrote (``arrivals``, numbered in commit order, the last `ARRIVALS_KEPT` rows
kept), so that a reader can ask what was written since it last read (`SQLiteStore.arrivals`) and
read only that (`history_blocks_from`, `hourly_blocks_from`: the incremental alert source).

Threads: every thread gets its own connection (WAL lets readers run while a writer commits), so
the collector's thread and the demo's live view never share one. Writers queue on SQLite's lock
for up to the busy timeout, then `StoreUnavailable` is raised.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import numpy as np
import pyarrow as pa

from repoclimate.history import arrow_reader, rollups
from repoclimate.history.columns import SensorColumns
from repoclimate.history.derived import DerivedRow
from repoclimate.history.lineprotocol import LineEncoder, check_name
from repoclimate.history.rollups import Period
from repoclimate.history.store import (
    MEAN_COLUMNS,
    READING_COLUMNS,
    AggregatePoint,
    Arrivals,
    HistoryArrays,
    InvalidPoint,
    SensorBlocks,
    StoreUnavailable,
)
from repoclimate.history.timestamps import duration_ns, from_ns, to_ns
from repoclimate.sensors.reading import Reading

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    sensor TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    site TEXT,
    room TEXT,
    temperature REAL,
    humidity REAL,
    battery REAL,
    linkquality REAL,
    PRIMARY KEY (sensor, time_ns)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS derived (
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (measurement, tags, time_ns)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS arrivals (
    seq INTEGER PRIMARY KEY,
    sensor TEXT NOT NULL,
    first_ns INTEGER NOT NULL
);
"""
# ``arrivals``: the log of writes in arrival order (`SQLiteStore.arrivals`), one row per sensor
# and write — the earliest reading time it wrote — numbered by SQLite's rowid (one more than
# the largest, in the order the writes commit: they hold the write lock). Files from before it
# gain the table when opened (CREATE TABLE IF NOT EXISTS, nothing else changes); their log
# starts empty, which a reader with no earlier mark treats as telling nothing.

# A later reading at the same sensor and time fills in what it carries and keeps the rest, like
# InfluxDB merging the fields of one point.
_UPSERT_READING = """
INSERT INTO readings (sensor, time_ns, site, room, temperature, humidity, battery, linkquality)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (sensor, time_ns) DO UPDATE SET
    site = coalesce(excluded.site, site),
    room = coalesce(excluded.room, room),
    temperature = coalesce(excluded.temperature, temperature),
    humidity = coalesce(excluded.humidity, humidity),
    battery = coalesce(excluded.battery, battery),
    linkquality = coalesce(excluded.linkquality, linkquality)
"""

_UPSERT_DERIVED = """
INSERT INTO derived (measurement, tags, time_ns, fields) VALUES (?, ?, ?, ?)
ON CONFLICT (measurement, tags, time_ns) DO UPDATE SET fields = json_patch(fields, excluded.fields)
"""

_COLUMNS = "sensor, time_ns, site, room, temperature, humidity, battery, linkquality"

_HISTORY_ARRAYS = (
    "SELECT time_ns, temperature, humidity, battery FROM readings"
    " WHERE sensor = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns"
)
_ARRAY_ROW = np.dtype(
    [
        ("time_ns", np.int64),
        ("temperature", np.float64),
        ("humidity", np.float64),
        ("battery", np.float64),
    ]
)
"""A row of `_HISTORY_ARRAYS` as `numpy.fromiter` stores it (NULL becomes NaN)."""
_HISTORY_COUNT = "SELECT count(*) FROM readings WHERE sensor = ? AND time_ns >= ? AND time_ns < ?"
_READ_TIMEOUT_S = 600.0
"""How long a bulk read's child process may take (`history.arrow_reader`) before it is stopped
and the read fails: years of a site's readings take seconds."""

# Many sensors in one statement: the sensors come as a JSON array, each one's rows are found on
# the primary key (sensor, time_ns), sensor by sensor in the array's order and in time order
# within one (checked where they are read: SQLite promises no order without ORDER BY, whose
# sorter would cost as much as the read).
_HISTORY_BLOCKS = (
    "SELECT j.key, r.time_ns, r.temperature, r.humidity, r.battery"
    " FROM json_each(?1) AS j"
    " JOIN readings AS r ON r.sensor = j.value AND r.time_ns >= ?2 AND r.time_ns < ?3"
)
# `aggregate`'s hourly means of many sensors: the same buckets, averages and condition.
_HOURLY_BLOCKS = (
    "SELECT j.key, r.time_ns - ((r.time_ns % ?4) + ?4) % ?4 AS bucket,"
    " avg(r.temperature), avg(r.humidity)"
    " FROM json_each(?1) AS j"
    " JOIN readings AS r ON r.sensor = j.value AND r.time_ns >= ?2 AND r.time_ns < ?3"
    " WHERE r.temperature IS NOT NULL OR r.humidity IS NOT NULL"
    " GROUP BY j.key, bucket ORDER BY j.key, bucket"
)
# `history_blocks` and `hourly_blocks` with a start per sensor: ``[sensor, start_ns]`` pairs.
_HISTORY_BLOCKS_FROM = (
    "SELECT j.key, r.time_ns, r.temperature, r.humidity, r.battery"
    " FROM json_each(?1) AS j"
    " JOIN readings AS r ON r.sensor = json_extract(j.value, '$[0]')"
    " AND r.time_ns >= json_extract(j.value, '$[1]') AND r.time_ns < ?2"
)
_HOURLY_BLOCKS_FROM = (
    "SELECT j.key, r.time_ns - ((r.time_ns % ?3) + ?3) % ?3 AS bucket,"
    " avg(r.temperature), avg(r.humidity)"
    " FROM json_each(?1) AS j"
    " JOIN readings AS r ON r.sensor = json_extract(j.value, '$[0]')"
    " AND r.time_ns >= json_extract(j.value, '$[1]') AND r.time_ns < ?2"
    " WHERE r.temperature IS NOT NULL OR r.humidity IS NOT NULL"
    " GROUP BY j.key, bucket ORDER BY j.key, bucket"
)
_LOG_ARRIVAL = "INSERT INTO arrivals (sensor, first_ns) VALUES (?, ?)"
_PRUNE_ARRIVALS = "DELETE FROM arrivals WHERE seq <= (SELECT max(seq) FROM arrivals) - ?"
_ARRIVED = (
    "SELECT sensor, min(first_ns) FROM arrivals WHERE seq > ? AND seq <= ?"
    " GROUP BY sensor ORDER BY sensor"
)
ARRIVALS_KEPT = 200_000
"""Rows of the arrivals log kept (one per sensor and write; older ones are deleted by the
writes): 200 000 is over an hour of 10 000 sensors written one reading at a time. A reader
whose mark is older is told so (`Arrivals.complete` False) and reads its settle window."""
_BLOCK_ROW = np.dtype(
    [
        ("key", np.int64),
        ("time_ns", np.int64),
        ("temperature", np.float64),
        ("humidity", np.float64),
        ("battery", np.float64),
    ]
)
_MEAN_ROW = np.dtype(
    [
        ("key", np.int64),
        ("time_ns", np.int64),
        ("temperature_mean", np.float64),
        ("humidity_mean", np.float64),
    ]
)


def _sensor_blocks(
    sensors: Sequence[str], rows: np.ndarray, fields: tuple[str, ...]
) -> SensorBlocks:
    """`SensorBlocks` of rows ``(key, time_ns, *fields)``, ``key`` the index in ``sensors``."""
    keys, times = rows["key"], rows["time_ns"]
    if keys.size > 1 and not (
        np.all(keys[1:] >= keys[:-1]) and np.all((keys[1:] > keys[:-1]) | (times[1:] > times[:-1]))
    ):
        rows = rows[np.lexsort((times, keys))]
        keys, times = rows["key"], rows["time_ns"]
    offsets = np.searchsorted(keys, np.arange(len(sensors) + 1), side="left").astype(np.int64)
    values = np.empty((len(fields), keys.size))
    for k, name in enumerate(fields):
        values[k] = rows[name]
    return SensorBlocks(tuple(sensors), offsets, np.ascontiguousarray(times), fields, values)


def _firsts(rows: Sequence[tuple[object, ...]]) -> list[tuple[str, int]]:
    """Each sensor's earliest reading time among upsert rows ``(sensor, time_ns, …)``."""
    first: dict[str, int] = {}
    get = first.get
    for row in rows:
        sensor, time_ns = cast(str, row[0]), cast(int, row[1])
        held = get(sensor)
        if held is None or time_ns < held:
            first[sensor] = time_ns
    return list(first.items())


def _log_arrivals(connection: sqlite3.Connection, firsts: list[tuple[str, int]], kept: int) -> None:
    """Log a write's sensors and earliest times in ``arrivals``, keeping its last ``kept``
    rows (in the write's transaction)."""
    connection.executemany(_LOG_ARRIVAL, firsts)
    connection.execute(_PRUNE_ARRIVALS, (kept,))


def _pairs(sensors: Sequence[str], starts_ns: np.ndarray) -> str:
    """The ``[sensor, start_ns]`` pairs of the per-sensor block reads, as one JSON text."""
    if len(sensors) != starts_ns.size:
        raise ValueError(f"{len(sensors)} sensors but {starts_ns.size} starts")
    return json.dumps(list(zip(sensors, starts_ns.astype(np.int64).tolist(), strict=True)))


def _reading(row: tuple[Any, ...]) -> Reading:
    sensor, time_ns, site, room, temperature, humidity, battery, linkquality = row
    return Reading(
        sensor=sensor,
        time=from_ns(time_ns),
        temperature=temperature,
        humidity=humidity,
        battery=battery,
        linkquality=linkquality,
        site=site,
        room=room,
    )


_UPSERT_READING_NO_EXTRAS = _UPSERT_READING.replace(
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)"
)
"""`_UPSERT_READING` of readings without battery and link quality (6 parameters, not 8)."""
assert _UPSERT_READING_NO_EXTRAS != _UPSERT_READING

_Rows = tuple[str, list[tuple[object, ...]], set[tuple[str, str, str, int]]]
"""An upsert statement, its rows and the rollup buckets (sensor, site, room, hour) they touch."""

_CHECKED_TAGS_LIMIT = 100_000


def _literal(value: str | None) -> str:
    """An SQL literal of a checked tag text (or NULL): quotes doubled, nothing else to escape."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS staged_readings"
    " (time_ns INTEGER NOT NULL, temperature REAL, humidity REAL)"
)
_STAGE_ROW = "INSERT INTO staged_readings (time_ns, temperature, humidity) VALUES (?, ?, ?)"
_UNSTAGE = "DELETE FROM staged_readings"
_STAGED_PER_STATEMENT = 100
_STAGE_ROWS = "INSERT INTO staged_readings (time_ns, temperature, humidity) VALUES " + ", ".join(
    ["(?, ?, ?)"] * _STAGED_PER_STATEMENT
)


def _stage(
    connection: sqlite3.Connection,
    times: Sequence[int],
    temperatures: Sequence[float | None],
    humidities: Sequence[float | None],
) -> None:
    """Insert the columns into ``staged_readings``, in their order, 100 rows a statement.

    One statement per row costs its step and reset in the sqlite3 module each time: a year of
    minute rows took ~0.65 s, in statements of 100 rows ~0.3 s (issue 14). The parameters
    are the columns' own values, flattened row by row (300 a statement, well under SQLite's
    limit of bound parameters).
    """
    flat = list(chain.from_iterable(zip(times, temperatures, humidities, strict=True)))
    size = 3 * _STAGED_PER_STATEMENT
    whole = len(flat) - len(flat) % size
    connection.executemany(_STAGE_ROWS, (flat[i : i + size] for i in range(0, whole, size)))
    if whole < len(flat):
        connection.executemany(_STAGE_ROW, zip(*[iter(flat[whole:])] * 3, strict=True))


def _staged_upsert(sensor: str, site: str | None, room: str | None) -> str:
    """`_UPSERT_READING` of the rows in ``staged_readings`` (one sensor's columns), the constant
    ids in the statement, battery and link quality NULL.

    Binding three parameters a row into a plain temporary table and upserting them in one
    statement takes ~1.4 s for a year of minute rows, against ~2.2 s for the upsert bound row by
    row (same run, issue 14). ``WHERE true`` tells SQLite's parser that ON CONFLICT belongs to
    the INSERT, not to a join.
    """
    select = (
        f"SELECT {_literal(sensor)}, time_ns, {_literal(site)}, {_literal(room)},"
        " temperature, humidity, NULL, NULL FROM staged_readings WHERE true"
    )
    return _UPSERT_READING.replace("VALUES (?, ?, ?, ?, ?, ?, ?, ?)", select)


def _finite_values(column: Sequence[float | None]) -> bool:
    """Whether every value of a column is a finite number (None cells passed over).

    The sum of a column holding a NaN or an infinity is never finite; a column of finite but
    huge values may sum to an infinity too, which only sends it down the careful path.
    """
    if None in column:
        return math.isfinite(sum(v for v in column if v is not None))
    return math.isfinite(sum(cast(Sequence[float], column)))


class _Unchecked(Exception):  # noqa: N818 (internal signal, never leaves the store)
    """The fast validation of `SQLiteStore._checked_rows` found something to look at closely."""


def _check_tags(site: str | None, room: str | None, sensor: str) -> None:
    """The tag checks of `LineEncoder` for one placement (`InvalidPoint` when one fails)."""
    if room:
        check_name("room", room)
    check_name("sensor", sensor)
    if site:
        check_name("site", site)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _recompute_touched(
    connection: sqlite3.Connection,
    *,
    derived: bool = False,
    room_of: tuple[str, str, str] | None = None,
) -> None:
    """Recompute the hours marked in ``touched`` (from readings) and, with ``derived``, in
    ``touched_derived`` (from derived rows); mark their days stale; clear the marks.

    ``room_of`` (site, room, sensor): the room's hours are copies of the sensor's touched hours
    (`rollups.COPY_SENSOR_HOURS_TO_ROOM`; the caller has checked `rollups.ROOM_OF_ONE_SENSOR`
    and marked only the sensor's hours)."""
    for sql in rollups.RECOMPUTE_HOURS:
        connection.execute(sql)
    if room_of is not None:
        for sql in rollups.COPY_SENSOR_HOURS_TO_ROOM:
            connection.execute(sql, room_of)
    if derived:
        for sql in rollups.RECOMPUTE_DERIVED_HOURS:
            connection.execute(sql)
    for sql in rollups.MARK_DAYS:
        connection.execute(sql)
    for sql in rollups.CLEAR:
        connection.execute(sql)


def _add_derived_columns(connection: sqlite3.Connection) -> None:
    """Give rollup tables of files from before derived rollups their derived columns."""
    for table in rollups.TABLES.values():
        have = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        for column, kind in rollups.DERIVED_COLUMN_DEFINITIONS.items():
            if column not in have:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _recompute_days(connection: sqlite3.Connection) -> None:
    """Recompute every stale day from its hourly buckets."""
    connection.execute(rollups.RECOMPUTE_DAYS)
    connection.execute(rollups.CLEAR_DAYS)


class SQLiteStore:
    """Readings (and derived rows) in a SQLite file; see the module docstring for guarantees."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_s: float = 10.0,
        defer_rollups: bool = False,
        arrivals_kept: int = ARRIVALS_KEPT,
    ) -> None:
        """``arrivals_kept``: rows of the arrivals log kept (`ARRIVALS_KEPT`)."""
        if arrivals_kept < 1:
            raise ValueError(f"arrivals_kept must be ≥ 1, got {arrivals_kept}")
        self.path = Path(path)
        self.defer_rollups = defer_rollups
        self.arrivals_kept = arrivals_kept
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # Validation shared with the InfluxDB store, so a reading the demo accepts is one
        # production accepts too; the encoder itself is not used here.
        self._encoder = LineEncoder()
        self._checked_tags: set[tuple[str | None, str | None, str]] = set()
        connection = self._connection()
        connection.executescript(_SCHEMA)
        connection.executescript(rollups.SCHEMA)
        _add_derived_columns(connection)

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"SQLite store {self.path} is closed")
            try:
                connection = sqlite3.connect(
                    self.path,
                    timeout=self._busy_timeout_s,
                    isolation_level=None,
                    check_same_thread=False,
                )
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise StoreUnavailable(f"SQLite store {self.path} cannot use WAL ({mode})")
                connection.execute("PRAGMA synchronous=FULL")
                connection.executescript(rollups.TEMP_SCHEMA)
            except sqlite3.Error as error:
                raise StoreUnavailable(f"cannot open SQLite store {self.path}: {error}") from error
            self._connections.append(connection)
        self._local.connection = connection
        return connection

    def _execute_write(
        self,
        sql: str,
        rows: list[tuple[object, ...]],
        then: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    connection.executemany(sql, rows)
                if then is not None:
                    then(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"SQLite store {self.path}: {error}") from error

    def _query(self, sql: str, parameters: tuple[object, ...] = ()) -> list[Any]:
        try:
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"SQLite store {self.path}: {error}") from error

    def write(self, readings: Sequence[Reading]) -> None:
        """Upsert readings in one transaction, durable when this returns."""
        if not readings:
            return
        try:
            sql, rows, marks = self._checked_rows(readings)
        except _Unchecked:
            # Something is off (or merely unusual): the encoder words the error, naming the index.
            sql, rows, marks = self._encoded_rows(readings)

        def refresh(connection: sqlite3.Connection) -> None:
            _log_arrivals(connection, _firsts(rows), self.arrivals_kept)
            if self.defer_rollups:
                connection.executemany(rollups.MARK_PENDING, sorted(marks))
                return
            connection.executemany(rollups.MARK, sorted(marks))
            _recompute_touched(connection)

        self._execute_write(sql, rows, refresh)

    def _encoded_rows(self, readings: Sequence[Reading]) -> _Rows:
        """The upsert rows and rollup marks of readings validated by the line encoder, which
        raises `InvalidPoint` naming the index of the first bad reading."""
        self._encoder.encode_readings(readings)
        times = [to_ns(r.time) for r in readings]
        rows: list[tuple[object, ...]] = [
            (
                r.sensor,
                time_ns,
                r.site or None,
                r.room or None,
                _float(r.temperature),
                _float(r.humidity),
                _float(r.battery),
                _float(r.linkquality),
            )
            for r, time_ns in zip(readings, times, strict=True)
        ]
        # The rollup buckets the readings fall in: (sensor, hour) and (site, room, hour).
        marks: set[tuple[str, str, str, int]] = set()
        for r, time_ns in zip(readings, times, strict=True):
            hour = rollups.hour_of(time_ns)
            marks.add((r.sensor, "", "", hour))
            if r.site and r.room:
                marks.add(("", r.site, r.room, hour))
        return _UPSERT_READING, rows, marks

    def _checked_rows(self, readings: Sequence[Reading]) -> _Rows:
        """What `_encoded_rows` returns, in one pass without encoding lines (issue 14: the
        encoding, only used to validate, cost 1.5-2.6 s of a 525 600-row import).

        Checks what `LineEncoder.encode_readings` checks (tags once per placement, finite
        values, at least one value, an aware time) and raises `_Unchecked` at the first doubt;
        consecutive readings of one sensor-hour add one mark; batches without battery and link
        quality bind six parameters per row instead of eight.
        """
        checked = self._checked_tags
        isfinite = math.isfinite
        hour_ns = rollups.HOUR_NS
        rows: list[tuple[object, ...]] = []
        append = rows.append
        marks: set[tuple[str, str, str, int]] = set()
        mark = marks.add
        last_sensor: object = None
        last_room: object = None
        last_hour = last_room_hour = -1
        extras = False
        try:
            for r in readings:
                sensor, site, room = r.sensor, r.site, r.room
                if (site, room, sensor) not in checked:
                    _check_tags(site, room, sensor)
                    if len(checked) >= _CHECKED_TAGS_LIMIT:
                        checked.clear()
                    checked.add((site, room, sensor))
                t, h, b, q = r.temperature, r.humidity, r.battery, r.linkquality
                if t is not None:
                    t = float(t)
                    if not isfinite(t):
                        raise _Unchecked
                if h is not None:
                    h = float(h)
                    if not isfinite(h):
                        raise _Unchecked
                if b is not None or q is not None:
                    extras = True
                    if b is not None:
                        b = float(b)
                        if not isfinite(b):
                            raise _Unchecked
                    if q is not None:
                        q = float(q)
                        if not isfinite(q):
                            raise _Unchecked
                elif t is None and h is None:
                    raise _Unchecked
                time_ns = to_ns(r.time)
                append((sensor, time_ns, site or None, room or None, t, h, b, q))
                hour = time_ns - time_ns % hour_ns
                if hour != last_hour or sensor != last_sensor:
                    mark((sensor, "", "", hour))
                    last_hour, last_sensor = hour, sensor
                if site and room and (hour != last_room_hour or (site, room) != last_room):
                    mark(("", site, room, hour))
                    last_room_hour, last_room = hour, (site, room)
        except (InvalidPoint, TypeError, ValueError, OverflowError) as error:
            raise _Unchecked from error
        if extras:
            return _UPSERT_READING, rows, marks
        return _UPSERT_READING_NO_EXTRAS, [row[:6] for row in rows], marks

    def write_columns(self, columns: SensorColumns) -> None:
        """`write` of one sensor's columns without `Reading` objects (the logger-file import).

        Stores what ``write(columns.readings())`` stores, in one transaction with the rollups of
        the touched hours (or their marks, with ``defer_rollups``): the placement's tags are
        checked once, the values as columns, and the rows go through a temporary table into one
        upsert statement (`_staged_upsert`). When
        a check fails, ``write(columns.readings())`` runs instead, so the refusal is the encoder's
        (`InvalidPoint` naming the index of the first bad reading).
        """
        if not len(columns):
            return
        sensor, site, room = columns.sensor, columns.site, columns.room
        times, temperatures, humidities = (
            columns.times_ns,
            columns.temperatures,
            columns.humidities,
        )
        try:
            if (site, room, sensor) not in self._checked_tags:
                _check_tags(site, room, sensor)
                if len(self._checked_tags) >= _CHECKED_TAGS_LIMIT:
                    self._checked_tags.clear()
                self._checked_tags.add((site, room, sensor))
            fine = _finite_values(temperatures) and _finite_values(humidities)
            if fine and (None in temperatures or None in humidities):
                fine = all(
                    t is not None or h is not None
                    for t, h in zip(temperatures, humidities, strict=True)
                )
        except (InvalidPoint, TypeError, ValueError, OverflowError):
            fine = False
        if not fine:
            self.write(columns.readings())
            return
        hour_ns = rollups.HOUR_NS
        hours = sorted({t - t % hour_ns for t in times})
        sensor_marks = [(sensor, "", "", hour) for hour in hours]
        room_marks = [("", site, room, hour) for hour in hours] if site and room else []
        upsert = _staged_upsert(sensor, site or None, room or None)

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(_STAGE)
            connection.execute(_UNSTAGE)
            _stage(connection, times, temperatures, humidities)
            connection.execute(upsert)
            connection.execute(_UNSTAGE)
            _log_arrivals(connection, [(sensor, min(times))], self.arrivals_kept)
            if self.defer_rollups:
                connection.executemany(rollups.MARK_PENDING, sensor_marks + room_marks)
                return
            connection.executemany(rollups.MARK, sensor_marks)
            room_of: tuple[str, str, str] | None = None
            if site and room:
                span = (site, room, sensor, hours[0], hours[-1] + hour_ns)
                (alone,) = connection.execute(rollups.ROOM_OF_ONE_SENSOR, span).fetchone()
                if alone:  # the room's hours are the sensor's: copied, not read again
                    room_of = (site, room, sensor)
                else:
                    connection.executemany(rollups.MARK, room_marks)
            _recompute_touched(connection, room_of=room_of)

        self._execute_write("SELECT 1", [], write)

    def holds_columns(self, columns: SensorColumns) -> list[bool]:
        """`holds` of one sensor's columns: for each row, whether the store holds the same
        values of the quantities it carries at that sensor and time, at the same site and room.

        One range query in key order; when the store holds exactly the columns' times with the
        same values at the same place (a file imported again), that is answered by comparing
        whole columns, else row by row through a dictionary of the stored rows.
        """
        times = columns.times_ns
        if not times:
            return []
        site, room = columns.site or None, columns.room or None
        rows = self._query(
            "SELECT time_ns, temperature, humidity, site IS ? AND room IS ? FROM readings"
            " WHERE sensor = ? AND time_ns >= ? AND time_ns <= ? ORDER BY time_ns",
            (site, room, columns.sensor, min(times), max(times)),
        )
        if not rows:
            return [False] * len(times)
        if len(rows) == len(times):
            stored_times, stored_t, stored_h, same_place = zip(*rows, strict=True)
            # List equality is `==` element by element (no NaN is ever stored); a None value
            # (a quantity the row does not carry) makes it fail, and the row-by-row path decide.
            if (
                all(same_place)
                and list(stored_times) == list(times)
                and list(stored_t) == list(columns.temperatures)
                and list(stored_h) == list(columns.humidities)
            ):
                return [True] * len(times)
        stored = {time_ns: (t, h, same) for time_ns, t, h, same in rows}
        out: list[bool] = []
        append = out.append
        for time_ns, t, h in zip(times, columns.temperatures, columns.humidities, strict=True):
            held = stored.get(time_ns)
            append(
                held is not None
                and (t is None or t == held[0])
                and (h is None or h == held[1])
                and bool(held[2])
            )
        return out

    def flush_rollups(self) -> None:
        """Recompute the rollup hours that deferred writes marked (nothing when none are)."""
        if not self._query(rollups.ANY_PENDING)[0][0]:
            return

        def flush(connection: sqlite3.Connection) -> None:
            for sql in rollups.TAKE_PENDING:
                connection.execute(sql)
            _recompute_touched(connection)

        self._execute_write("SELECT 1", [], flush)

    def rebuild_rollups(self, start: datetime, end: datetime) -> int:
        """Recompute every rollup bucket holding raw readings in ``start <= time < end``.

        Idempotent; buckets whose raw readings retention has removed are kept as they are. The
        range is widened to whole UTC days. Returns the number of hourly buckets recomputed.
        """
        low = to_ns(start)
        low -= low % rollups.DAY_NS
        high = to_ns(end)
        high += -high % rollups.DAY_NS
        counted: list[int] = []

        self.flush_rollups()

        def rebuild(connection: sqlite3.Connection) -> None:
            for sql in rollups.CLEAR:
                connection.execute(sql)
            for sql in rollups.MARK_RANGE:
                connection.execute(sql, (low, high))
            (row,) = connection.execute(
                "SELECT count(*) FROM (SELECT * FROM touched UNION SELECT * FROM touched_derived)"
            ).fetchall()
            counted.append(int(row[0]))
            _recompute_touched(connection, derived=True)
            _recompute_days(connection)

        self._execute_write("SELECT 1", [], rebuild)
        return counted[0]

    def rollups(
        self,
        period: Period,
        start: datetime,
        end: datetime,
        *,
        sensor: str | None = None,
        site: str | None = None,
        room: str | None = None,
    ) -> list[AggregatePoint]:
        """The hourly or daily rollups of one sensor, or of one room (``site`` and ``room``).

        Buckets with ``start <= time < end``, oldest first; ``count`` is the larger of the
        temperature and humidity counts, as in `aggregate`.
        """
        if (sensor is None) == (site is None or room is None):
            raise ValueError("rollups of either a sensor or a site and room, not both or neither")
        key = (sensor, "", "") if sensor is not None else ("", site, room)
        self.flush_rollups()
        if period == "1d" and self._query(rollups.ANY_STALE)[0][0]:
            self._execute_write("SELECT 1", [], _recompute_days)
        rows = self._query(
            f"SELECT {rollups.SELECT_COLUMNS} FROM {rollups.TABLES[period]}"
            " WHERE sensor = ? AND site = ? AND room = ? AND time_ns >= ? AND time_ns < ?"
            " ORDER BY time_ns",
            (*key, to_ns(start), to_ns(end)),
        )
        return rollups.points(rows)

    def hourly_rows(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> list[np.ndarray[Any, np.dtype[np.float64]]]:
        """The hourly rollups of several sensors, one float array each (reports: a year of 50
        rooms is 438 000 rows, and `rollups` builds an `AggregatePoint` for each), read as Arrow
        columns through the ADBC SQLite driver in one read transaction, as `history_arrays`
        reads (sqlite3's tuple per row was ~2/3 of the read's CPU) — in a child process
        (`history.arrow_reader`: the driver's own SQLite must not open this file here).

        Each array has a row per bucket with ``start <= time < end``, in no promised order,
        and 8 columns: the hour's number since the epoch (``time_ns // HOUR_NS``; rollup hours
        are epoch-aligned), the hour's samples (the larger of temperature's and humidity's
        count), temperature mean, min, max and humidity mean, min, max (NaN where unknown).
        """
        if not sensors:
            return []
        self.flush_rollups()
        self._connection()  # open (WAL, schema) as every read does, or StoreUnavailable
        where = " WHERE sensor = ? AND site = '' AND room = '' AND time_ns >= ? AND time_ns < ?"
        select = (
            f"SELECT time_ns / {rollups.HOUR_NS}, max(temperature_count, humidity_count),"
            " temperature_mean, temperature_min, temperature_max,"
            " humidity_mean, humidity_min, humidity_max FROM climate_1h" + where
        )
        lo, hi = to_ns(start), to_ns(end)
        tables = self._read_tables(
            "SELECT count(*) FROM climate_1h" + where, select, [(s, lo, hi) for s in sensors]
        )
        return [self._float_columns(s, t) for s, t in zip(sensors, tables, strict=True)]

    def _float_columns(self, sensor: str, table: pa.Table) -> np.ndarray[Any, np.dtype[np.float64]]:
        """An Arrow result of numbers as one float array, a column per column (NULL → NaN;
        each query is one batch, so a column is REAL, or int64 where all are NULL)."""
        out = np.empty((table.num_rows, table.num_columns))
        for k, column in enumerate(table.columns):
            if not (
                pa.types.is_floating(column.type)
                or pa.types.is_integer(column.type)
                or pa.types.is_null(column.type)
            ):
                raise StoreUnavailable(
                    f"SQLite store {self.path}: sensor {sensor!r} has {column.type} values in "
                    f"climate_1h column {table.column_names[k]!r}, not numbers"
                )
            out[:, k] = column.to_numpy(zero_copy_only=False)
        return out

    def prune_raw(self, before: datetime) -> int:
        """Delete raw readings older than ``before``; rollups stay. Returns how many went."""
        deleted: list[int] = []

        def delete(connection: sqlite3.Connection) -> None:
            cursor = connection.execute("DELETE FROM readings WHERE time_ns < ?", (to_ns(before),))
            deleted.append(cursor.rowcount)

        self._execute_write("SELECT 1", [], delete)
        return deleted[0]

    def holds(self, readings: Sequence[Reading]) -> list[bool]:
        """For each reading, whether the store holds it already: same sensor and time, the same
        value of each quantity the reading carries, the same site and room.

        What an idempotent import asks; cheaper than `history` (no readings are built).
        """
        out = [False] * len(readings)
        by_sensor: dict[str, list[int]] = {}
        for index, reading in enumerate(readings):
            by_sensor.setdefault(reading.sensor, []).append(index)
        for sensor, indexes in by_sensor.items():
            times = [to_ns(readings[i].time) for i in indexes]
            stored = {
                row[0]: row[1:]
                for row in self._query(
                    "SELECT time_ns, temperature, humidity, site, room FROM readings"
                    " WHERE sensor = ? AND time_ns >= ? AND time_ns <= ?",
                    (sensor, min(times), max(times)),
                )
            }
            if not stored:
                continue
            for i, time_ns in zip(indexes, times, strict=True):
                held = stored.get(time_ns)
                if held is None:
                    continue
                r = readings[i]
                t, h, site, room = held
                out[i] = (
                    (r.temperature is None or r.temperature == t)
                    and (r.humidity is None or r.humidity == h)
                    and (r.site or None) == site
                    and (r.room or None) == room
                )
        return out

    def write_derived(self, rows: Sequence[DerivedRow]) -> None:
        """Upsert derived rows (fields merge as JSON), durable when this returns."""
        if not rows:
            return
        self._encoder.encode_derived(rows)  # raises InvalidPoint, naming the index
        values: list[tuple[object, ...]] = [
            (
                row.measurement,
                json.dumps(dict(sorted(row.tags.items())), ensure_ascii=False),
                to_ns(row.time),
                json.dumps({key: float(value) for key, value in row.fields.items()}),
            )
            for row in rows
        ]
        marks: set[tuple[str, str, str, int]] = set()
        for row in rows:
            if row.measurement != rollups.PRESERVATION:
                continue
            key = rollups.derived_key(dict(row.tags))
            if key is not None:
                marks.add((*key, rollups.hour_of(to_ns(row.time))))

        def refresh(connection: sqlite3.Connection) -> None:
            if marks:
                connection.executemany(rollups.MARK_DERIVED, sorted(marks))
                _recompute_touched(connection, derived=True)

        self._execute_write(_UPSERT_DERIVED, values, refresh)

    def derived(self, measurement: str, start: datetime, end: datetime) -> list[DerivedRow]:
        """Derived rows of a measurement with ``start <= time < end``, oldest first."""
        rows = self._query(
            "SELECT tags, time_ns, fields FROM derived"
            " WHERE measurement = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns, tags",
            (measurement, to_ns(start), to_ns(end)),
        )
        return [
            DerivedRow(measurement, json.loads(tags), json.loads(fields), from_ns(time_ns))
            for tags, time_ns, fields in rows
        ]

    def latest(self) -> list[Reading]:
        """The most recent reading of every sensor, ordered by sensor id."""
        # SQLite takes the bare columns of a max() aggregate from the row holding the maximum.
        rows = self._query(
            "SELECT sensor, max(time_ns), site, room, temperature, humidity, battery, linkquality"
            " FROM readings GROUP BY sensor ORDER BY sensor"
        )
        return [_reading(row) for row in rows]

    def earliest(self, sensor: str) -> datetime | None:
        """The time of the sensor's oldest reading (None without readings)."""
        (row,) = self._query("SELECT min(time_ns) FROM readings WHERE sensor = ?", (sensor,))
        return None if row[0] is None else from_ns(int(row[0]))

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        """A sensor's readings with ``start <= time < end``, oldest first."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM readings"
            " WHERE sensor = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns",
            (sensor, to_ns(start), to_ns(end)),
        )
        return [_reading(row) for row in rows]

    def history_arrays(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, HistoryArrays]:
        """`history` of each of ``sensors`` as NumPy columns (`history.store.ReadsArrays`):
        one range query per sensor on the primary key, all in one read transaction (one
        snapshot), read as Arrow columns through the ADBC SQLite driver — no Python object per
        value (sqlite3's tuple per row was most of the cost: a year of 50 sensors at 5 min is
        5.8 million rows, ≈ 3 × the CPU) — in a child process (`history.arrow_reader`: two
        copies of SQLite in one process on one file lose writes). Each query is one Arrow
        batch (its rows counted first), so the driver types each column from all its values:
        REAL, or int64 where all are NULL (NaN here)."""
        self._connection()  # open (WAL, schema) as every read does, or StoreUnavailable
        lo, hi = to_ns(start), to_ns(end)
        wanted = list(dict.fromkeys(sensors))
        tables = self._read_tables(_HISTORY_COUNT, _HISTORY_ARRAYS, [(s, lo, hi) for s in wanted])
        return {s: self._arrays_of(s, t) for s, t in zip(wanted, tables, strict=True)}

    def _read_tables(
        self, count: str, select: str, params: Sequence[tuple[str, int, int]]
    ) -> list[pa.Table]:
        """`history.arrow_reader.read_tables` on this store (a child process: the ADBC driver's
        own SQLite must not open this file in this process), its failure `StoreUnavailable`."""
        try:
            return arrow_reader.read_tables(self.path, count, select, params, _READ_TIMEOUT_S)
        except arrow_reader.ReadError as error:
            raise StoreUnavailable(f"SQLite store {self.path}: {error}") from error

    def _arrays_of(self, sensor: str, table: pa.Table) -> HistoryArrays:
        """`_HISTORY_ARRAYS`' result as `HistoryArrays` (NULL → NaN)."""
        columns = []
        for name in ("time_ns", "temperature", "humidity", "battery"):
            column = table.column(name)
            if not (
                pa.types.is_floating(column.type)
                or pa.types.is_integer(column.type)
                or pa.types.is_null(column.type)
            ):
                raise StoreUnavailable(
                    f"SQLite store {self.path}: sensor {sensor!r} has {column.type} values in "
                    f"readings.{name}, not numbers"
                )
            values = column.to_numpy(zero_copy_only=False)
            columns.append(np.ascontiguousarray(values, dtype=_ARRAY_ROW[name]))
        return HistoryArrays(*columns)

    def history_values(
        self, sensor: str, start: datetime, end: datetime
    ) -> list[tuple[int, float | None, float | None]]:
        """`history` as ``(time_ns, temperature, humidity)`` rows, without a `Reading` per row
        (the API's raw history needs no more; the `Reading` objects were most of its cost)."""
        return self._query(
            "SELECT time_ns, temperature, humidity FROM readings"
            " WHERE sensor = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns",
            (sensor, to_ns(start), to_ns(end)),
        )

    def history_blocks(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> SensorBlocks:
        """`history` of many sensors in one query (`history.store.ReadsBlocks`), as columns:
        each sensor's rows found on the primary key, no `Reading` per row."""
        rows = self._block_rows(
            _HISTORY_BLOCKS, (json.dumps(list(sensors)), to_ns(start), to_ns(end)), _BLOCK_ROW
        )
        return _sensor_blocks(sensors, rows, READING_COLUMNS)

    def hourly_blocks(self, sensors: Sequence[str], start: datetime, end: datetime) -> SensorBlocks:
        """`aggregate` of many sensors over hours, means only, in one query
        (`history.store.ReadsBlocks`)."""
        parameters = (json.dumps(list(sensors)), to_ns(start), to_ns(end), rollups.HOUR_NS)
        rows = self._block_rows(_HOURLY_BLOCKS, parameters, _MEAN_ROW)
        return _sensor_blocks(sensors, rows, MEAN_COLUMNS)

    def history_blocks_from(
        self, sensors: Sequence[str], starts_ns: np.ndarray, end: datetime
    ) -> SensorBlocks:
        """`history_blocks` from a start per sensor (`history.store.ReadsArrivals`), in one
        query."""
        rows = self._block_rows(
            _HISTORY_BLOCKS_FROM, (_pairs(sensors, starts_ns), to_ns(end)), _BLOCK_ROW
        )
        return _sensor_blocks(sensors, rows, READING_COLUMNS)

    def hourly_blocks_from(
        self, sensors: Sequence[str], starts_ns: np.ndarray, end: datetime
    ) -> SensorBlocks:
        """`hourly_blocks` from a start per sensor (`history.store.ReadsArrivals`), in one
        query: the same buckets, averages and condition."""
        parameters = (_pairs(sensors, starts_ns), to_ns(end), rollups.HOUR_NS)
        rows = self._block_rows(_HOURLY_BLOCKS_FROM, parameters, _MEAN_ROW)
        return _sensor_blocks(sensors, rows, MEAN_COLUMNS)

    def arrivals(self, after: int | None) -> Arrivals:
        """The sensors written since the mark ``after`` and each one's earliest reading time
        written since (`history.store.ReadsArrivals`), from the arrivals log, in one read
        transaction. Incomplete (`Arrivals.complete` False) without a mark, when the log's
        kept rows no longer reach back to it, or when it is past the log's newest (not this
        file's log). Every writer of this store logs (`write`, `write_columns`); `prune_raw`
        does not (it deletes readings older than any window is expected to reach)."""
        connection = self._connection()
        try:
            connection.execute("BEGIN")
            try:
                low, high = connection.execute("SELECT min(seq), max(seq) FROM arrivals").fetchone()
                mark = 0 if high is None else int(high)
                if after is None or after > mark or (after < mark and int(low) > after + 1):
                    return Arrivals(mark, False)
                rows = connection.execute(_ARRIVED, (after, mark)).fetchall()
            finally:
                connection.execute("COMMIT")
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"SQLite store {self.path}: {error}") from error
        sensors = tuple(row[0] for row in rows)
        first = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
        return Arrivals(mark, True, sensors, first)

    def _block_rows(
        self, sql: str, parameters: tuple[object, ...], dtype: np.dtype[Any]
    ) -> np.ndarray:
        try:
            return np.fromiter(self._connection().execute(sql, parameters), dtype=dtype)
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"SQLite store {self.path}: {error}") from error

    def rollup_values(
        self, period: Period, start: datetime, end: datetime, *, sensor: str
    ) -> list[tuple[Any, ...]]:
        """`rollups` of one sensor as plain rows ``(time_ns, temperature mean, min, max,
        humidity mean, min, max, count)`` — ``count`` as in `AggregatePoint` — without the
        derived series' 20 columns and an `AggregatePoint` per row (the API's hourly history:
        a 720-hour read ≈ 60 % less CPU)."""
        self.flush_rollups()
        if period == "1d" and self._query(rollups.ANY_STALE)[0][0]:
            self._execute_write("SELECT 1", [], _recompute_days)
        return self._query(
            "SELECT time_ns, temperature_mean, temperature_min, temperature_max,"
            " humidity_mean, humidity_min, humidity_max, max(temperature_count, humidity_count)"
            f" FROM {rollups.TABLES[period]}"
            " WHERE sensor = ? AND site = '' AND room = '' AND time_ns >= ? AND time_ns < ?"
            " ORDER BY time_ns",
            (sensor, to_ns(start), to_ns(end)),
        )

    def aggregate(
        self, sensor: str, start: datetime, end: datetime, every: timedelta
    ) -> list[AggregatePoint]:
        """Per-interval mean/min/max of a sensor, intervals aligned to the epoch."""
        step = duration_ns(every)
        rows = self._query(
            "SELECT time_ns - ((time_ns % ?1) + ?1) % ?1 AS bucket,"
            " avg(temperature), min(temperature), max(temperature),"
            " avg(humidity), min(humidity), max(humidity),"
            " max(count(temperature), count(humidity)), count(temperature), count(humidity)"
            " FROM readings WHERE sensor = ?2 AND time_ns >= ?3 AND time_ns < ?4"
            " AND (temperature IS NOT NULL OR humidity IS NOT NULL)"
            " GROUP BY bucket ORDER BY bucket",
            (step, sensor, to_ns(start), to_ns(end)),
        )
        return [
            AggregatePoint(
                time=from_ns(bucket),
                temperature_mean=t_mean,
                temperature_min=t_min,
                temperature_max=t_max,
                humidity_mean=h_mean,
                humidity_min=h_min,
                humidity_max=h_max,
                count=count,
                temperature_count=t_count,
                humidity_count=h_count,
            )
            for bucket, t_mean, t_min, t_max, h_mean, h_min, h_max, count, t_count, h_count in rows
        ]

    def count(self) -> int:
        """How many readings the store holds."""
        (row,) = self._query("SELECT count(*) FROM readings")
        return int(row[0])

    def healthy(self) -> bool:
        """Whether the file can be read right now."""
        try:
            self._query("SELECT 1")
        except StoreUnavailable:
            return False
        return True

    def close(self) -> None:
        """Bring deferred rollups up to date, then close every thread's connection; later
        calls raise `StoreUnavailable`."""
        if self.defer_rollups and not self._closed:
            try:
                self.flush_rollups()
            except StoreUnavailable as exc:  # the marks are kept: the next flush does them
                log.warning("deferred rollups not brought up to date: %s", exc)
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()
