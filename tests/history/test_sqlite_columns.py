"""`SQLiteStore.write_columns` / `holds_columns` (the logger-file import's path, issue 14) store
and answer exactly what `write` / `holds` of the same readings do: rows, hourly rollups (also
the room hours copied from a sensor alone in its room), stale days, pending marks, refusals; and
a write that fails stores nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.history import InvalidPoint, rollups
from repoclimate.history import sqlite as sqlite_module
from repoclimate.history.columns import SensorColumns, WritesColumns
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.timestamps import to_ns
from repoclimate.sensors.reading import Reading

T0 = datetime(2025, 3, 1, tzinfo=UTC)
TABLES = ("readings", "climate_1h", "climate_1d", "stale_days", "pending_hours")


def dump_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the store's tables that a write touches, in key order (for equality)."""
    with sqlite3.connect(path) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4").fetchall()
            for table in TABLES
        }


def _columns(
    sensor: str = "logger",
    site: str | None = "a",
    room: str | None = "r",
    *,
    minutes: range = range(0, 300, 7),
    start: datetime = T0,
    temperature: bool = True,
    humidity: bool = True,
) -> SensorColumns:
    times = [to_ns(start + timedelta(minutes=m)) for m in minutes]
    return SensorColumns(
        sensor,
        site,
        room,
        times,
        [18.0 + m % 13 / 10 if temperature else None for m in minutes],
        [45.0 + m % 17 / 10 if humidity else None for m in minutes],
    )


# What is in the store before the columns are written, per case.
BEFORE: dict[str, list[Reading]] = {
    "empty store": [],
    # another sensor in the room in the span: the room's hours are read from every reading
    "room shared": [Reading("other", T0 + timedelta(minutes=31), 25.0, 70.0, site="a", room="r")],
    # the logger's own earlier readings in the span, placed elsewhere: not a room of one sensor
    "moved sensor": [Reading("logger", T0 + timedelta(minutes=3), 10.0, 30.0, site="b", room="q")],
    # the logger's readings at some of the same times, one quantity: fields merge
    "merge": [
        Reading("logger", T0 + timedelta(minutes=7 * i), None, 60.0 + i, site="a", room="r")
        for i in range(10)
    ],
    # readings outside the span, same room: the room stays one sensor's in the span
    "room used later": [
        Reading("other", T0 + timedelta(days=2), 21.0, 51.0, site="a", room="r"),
        Reading("logger", T0 - timedelta(days=1), 20.0, 50.0, site="a", room="r"),
    ],
}


@pytest.mark.parametrize("case", sorted(BEFORE))
@pytest.mark.parametrize("defer", [False, True])
@pytest.mark.parametrize(
    "columns",
    [
        _columns(),
        _columns(temperature=False),
        _columns(site=None, room=None),
        _columns(site="unassigned", room="unassigned", minutes=range(0, 3 * 24 * 60, 59)),
    ],
    ids=["both quantities", "humidity only", "no placement", "three days"],
)
def test_columns_store_what_readings_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    defer: bool,
    columns: SensorColumns,
) -> None:
    copies: list[object] = []
    recompute = sqlite_module._recompute_touched

    def spy(connection: sqlite3.Connection, **options: object) -> None:
        copies.append(options.get("room_of"))
        recompute(connection, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_module, "_recompute_touched", spy)
    by_columns = SQLiteStore(tmp_path / "columns.db", defer_rollups=defer)
    by_readings = SQLiteStore(tmp_path / "readings.db", defer_rollups=defer)
    assert isinstance(by_columns, WritesColumns)
    for store in (by_columns, by_readings):
        if BEFORE[case]:
            store.write(BEFORE[case])
    readings = columns.readings()
    assert by_columns.holds_columns(columns) == by_readings.holds(readings)
    copies.clear()
    by_columns.write_columns(columns)
    low = columns.times_ns[0] - columns.times_ns[0] % rollups.HOUR_NS
    high = columns.times_ns[-1] - columns.times_ns[-1] % rollups.HOUR_NS + rollups.HOUR_NS
    placed = (columns.site, columns.room)
    others = any(
        low <= to_ns(r.time) < high and (r.sensor == "logger") != ((r.site, r.room) == placed)
        for r in BEFORE[case]
    )  # another sensor in the room, or the logger elsewhere, in the span
    if defer:
        assert copies == []  # marks only
    elif columns.site is None or others:
        assert copies == [None]  # no room, or the room's hours read from every reading
    else:
        assert copies == [(columns.site, columns.room, "logger")]
    by_readings.write(readings)
    assert dump_tables(tmp_path / "columns.db") == dump_tables(tmp_path / "readings.db")
    # (a reading without placement over a placed one is not 'held': its site differs)
    assert by_columns.holds_columns(columns) == by_readings.holds(readings)
    # and every rollup read (which flushes deferred hours and recomputes stale days) agrees
    span = (T0 - timedelta(days=2), T0 + timedelta(days=4))
    for period in ("1h", "1d"):
        keys: list[dict[str, str]] = [{"sensor": "logger"}, {"site": "a", "room": "r"}]
        for key in keys:
            got = by_columns.rollups(period, *span, **key)  # type: ignore[arg-type]
            assert got == by_readings.rollups(period, *span, **key)  # type: ignore[arg-type]
    by_columns.close()
    by_readings.close()
    assert dump_tables(tmp_path / "columns.db") == dump_tables(tmp_path / "readings.db")


def test_a_room_of_one_sensor_is_copied_and_equals_the_room_query(tmp_path: Path) -> None:
    """The copy of the sensor's hours (`rollups.COPY_SENSOR_HOURS_TO_ROOM`) is what the general
    room query computes from the raw readings, to the last bit."""
    columns = _columns(minutes=range(0, 24 * 60, 3))
    with SQLiteStore(tmp_path / "s.db") as store:
        store.write_columns(columns)
        connection = store._connection()
        copied = connection.execute(
            "SELECT * FROM climate_1h WHERE sensor = '' ORDER BY time_ns"
        ).fetchall()
        assert len(copied) == 24
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("DELETE FROM climate_1h WHERE sensor = ''")
        connection.executemany(
            rollups.MARK, [("", "a", "r", to_ns(T0) + h * rollups.HOUR_NS) for h in range(24)]
        )
        sqlite_module._recompute_touched(connection)
        connection.execute("COMMIT")
        recomputed = connection.execute(
            "SELECT * FROM climate_1h WHERE sensor = '' ORDER BY time_ns"
        ).fetchall()
    assert copied == recomputed


def test_the_sensor_hours_are_aggregated_without_sorting_every_reading(tmp_path: Path) -> None:
    """Grouped in ``touched``'s key order, the sensor-hour recompute needs no temporary B-tree
    (with one it sorted all 525 600 joined readings of a year's import first)."""
    with SQLiteStore(tmp_path / "s.db") as store:
        plan = store._connection().execute("EXPLAIN QUERY PLAN " + rollups.RECOMPUTE_HOURS[0])
        text = " ".join(row[3] for row in plan)
    assert "TEMP B-TREE" not in text and "USING PRIMARY KEY (sensor=?" in text, text


@pytest.mark.parametrize(
    "columns",
    [
        SensorColumns(
            "logger", "a", "r", [to_ns(T0), to_ns(T0) + 1000], [20.0, float("nan")], [50.0, 50.0]
        ),
        SensorColumns(
            "logger", "a", "r", [to_ns(T0), to_ns(T0) + 1000], [20.0, 21.0], [float("inf"), 50.0]
        ),
        SensorColumns(
            "logger", "a", "r", [to_ns(T0), to_ns(T0) + 1000], [20.0, None], [50.0, None]
        ),
        SensorColumns("bad\nid", "a", "r", [to_ns(T0)], [20.0], [50.0]),
        SensorColumns("logger", "a,b\\", "r", [to_ns(T0)], [20.0], [50.0]),
    ],
    ids=["nan", "infinite", "no value", "control character", "trailing backslash"],
)
def test_a_bad_column_is_refused_as_write_refuses_it(
    tmp_path: Path, columns: SensorColumns
) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.raises(InvalidPoint) as by_columns:
            store.write_columns(columns)
        with pytest.raises(InvalidPoint) as by_readings:
            store.write(columns.readings())
        assert str(by_columns.value) == str(by_readings.value)
        assert by_columns.value.index == by_readings.value.index
        assert store.count() == 0
    assert all(not rows for rows in dump_tables(tmp_path / "s.db").values())


def test_a_write_that_fails_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows, the rollups and the staging table are one transaction: a failure while the
    rollups are computed leaves the file as it was (and the next write starts clean)."""
    store = SQLiteStore(tmp_path / "s.db")
    store.write([Reading("logger", T0 - timedelta(days=1), 20.0, 50.0, site="a", room="r")])
    before = dump_tables(tmp_path / "s.db")

    def broken(connection: sqlite3.Connection, **options: object) -> None:
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(sqlite_module, "_recompute_touched", broken)
    with pytest.raises(sqlite_module.StoreUnavailable, match="simulated"):
        store.write_columns(_columns())
    assert dump_tables(tmp_path / "s.db") == before
    monkeypatch.undo()
    store.write_columns(_columns(minutes=range(3)))
    (staged,) = store._connection().execute("SELECT count(*) FROM staged_readings").fetchone()
    assert staged == 0
    assert store.count() == 1 + 3
    store.close()


def test_columns_check_their_lengths_and_drop_rows() -> None:
    with pytest.raises(ValueError, match="3 times, 2 temperatures, 3 humidities"):
        SensorColumns("s", None, None, [1, 2, 3], [1.0, 2.0], [1.0, 2.0, 3.0])
    columns = SensorColumns("s", "a", "r", [1000, 2000, 3000], [1.0, None, 3.0], [4.0, 5.0, None])
    kept = columns.without([True, False, False])
    assert (kept.times_ns, kept.temperatures, kept.humidities) == (
        [2000, 3000],
        [None, 3.0],
        [5.0, None],
    )
    assert columns.without([False] * 3) is columns
    with pytest.raises(ValueError, match="2 flags for 3 rows"):
        columns.without([True, False])


@pytest.mark.parametrize(
    "change",
    ["nothing", "a temperature", "a humidity", "the room", "a time", "one row fewer stored"],
)
def test_holds_columns_of_what_is_stored_equals_holds(tmp_path: Path, change: str) -> None:
    # The store holds exactly the columns' times (an import again): answered by comparing whole
    # columns when nothing differs, row by row otherwise; always what `holds` answers.
    store = SQLiteStore(tmp_path / "store.sqlite")
    stored = _columns(minutes=range(0, 600, 5))
    store.write_columns(
        stored
        if change != "one row fewer stored"
        else stored.without([i == 40 for i in range(len(stored))])
    )
    temperatures, humidities = list(stored.temperatures), list(stored.humidities)
    times, room = list(stored.times_ns), stored.room
    if change == "a temperature":
        temperatures[17] = 99.0
    elif change == "a humidity":
        humidities[len(humidities) - 1] = 1.0
    elif change == "the room":
        room = "elsewhere"
    elif change == "a time":
        times[3] += 1000
    again = SensorColumns(stored.sensor, stored.site, room, times, temperatures, humidities)
    held = store.holds_columns(again)
    assert held == store.holds(again.readings())
    assert all(held) == (change == "nothing")
    if change in ("a temperature", "a time", "one row fewer stored"):
        assert held.count(False) == 1
    store.close()


@pytest.mark.parametrize("count", [99, 100, 250, 1001])
def test_rows_staged_in_statements_of_a_hundred_store_what_readings_store(
    tmp_path: Path, count: int
) -> None:
    # Whole statements of 100 rows and a remainder; a time given twice (the later row's values
    # win, as in `write`) shows the rows keep their order.
    columns = _columns(minutes=range(count))
    times = list(columns.times_ns)
    times[count - 1] = times[count // 2]
    temperatures = list(columns.temperatures)
    temperatures[count - 1] = 30.5
    twice = SensorColumns("logger", "a", "r", times, temperatures, list(columns.humidities))
    by_columns = SQLiteStore(tmp_path / "columns.db")
    by_readings = SQLiteStore(tmp_path / "readings.db")
    by_columns.write_columns(twice)
    by_readings.write(twice.readings())
    by_columns.close()
    by_readings.close()
    dumped = dump_tables(tmp_path / "columns.db")
    assert dumped == dump_tables(tmp_path / "readings.db")
    assert len(dumped["readings"]) == count - 1
    assert (times[count // 2], 30.5) in {(row[1], row[4]) for row in dumped["readings"]}
