"""What only the embedded SQLite store has to show: durability settings, files, threads, locks."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.history import DerivedRow, InvalidPoint, StoreUnavailable
from repoclimate.history import sqlite as sqlite_module
from repoclimate.history.lineprotocol import LineEncoder
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_every_connection_is_wal_with_full_sync(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        settings: list[tuple[str, int]] = []

        def check() -> None:
            connection = store._connection()
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            sync = connection.execute("PRAGMA synchronous").fetchone()[0]
            settings.append((mode, sync))

        check()
        thread = threading.Thread(target=check)
        thread.start()
        thread.join()
        assert settings == [("wal", 2), ("wal", 2)]  # 2 = FULL


def test_readings_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with SQLiteStore(path) as store:
        store.write([Reading("s1", T0, 20.0, 50.0, site="a", room="r")])
    # Another process (a plain sqlite3 connection) sees the committed row at once.
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT count(*) FROM readings").fetchone() == (1,)
    with SQLiteStore(path) as store:
        assert store.latest() == [Reading("s1", T0, 20.0, 50.0, site="a", room="r")]


def test_a_writer_thread_and_a_reader_thread_share_the_store(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        done = threading.Event()

        def write() -> None:
            try:
                for batch in range(50):
                    store.write(
                        [
                            Reading(f"s{i}", T0 + timedelta(minutes=batch), 20.0 + i, 50.0)
                            for i in range(20)
                        ]
                    )
            except BaseException as error:
                errors.append(error)
            finally:
                done.set()

        def read() -> None:
            try:
                while not done.is_set():
                    assert len(store.latest()) <= 20
                    assert store.count() <= 1000
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=write), threading.Thread(target=read)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.count() == 1000
        assert {r.time for r in store.latest()} == {T0 + timedelta(minutes=49)}


def test_a_locked_database_makes_the_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with SQLiteStore(path, busy_timeout_s=0.1) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable, match="locked"):
                store.write([Reading("s1", T0, 20.0)])
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.write([Reading("s1", T0, 20.0)])
        assert store.count() == 1


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.write([Reading("s1", T0, 20.0)])
    assert not store.healthy()


def test_derived_rows_merge_fields_and_read_back(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        tags = {"site": "a", "room": "r"}
        store.write_derived([DerivedRow("preservation", tags, {"dew_point": 7.5}, T0)])
        store.write_derived(
            [
                DerivedRow("preservation", {"room": "r", "site": "a"}, {"pi_years": 40}, T0),
                DerivedRow("preservation", {"room": "other"}, {"pi_years": 3}, T0),
                DerivedRow("climate_1h", tags, {"temperature_mean": 20}, T0),
            ]
        )
        assert store.derived("preservation", T0, T0 + timedelta(hours=1)) == [
            DerivedRow("preservation", {"room": "other"}, {"pi_years": 3.0}, T0),
            DerivedRow("preservation", tags, {"dew_point": 7.5, "pi_years": 40.0}, T0),
        ]


def test_derived_rollups_search_the_derived_index_per_bucket(tmp_path: Path) -> None:
    """Without the CROSS JOIN and the affinity-free ``+t.…`` comparisons, SQLite scanned the
    derived table for every touched bucket: an alert engine cycle (11 000 rows) took 20 s."""
    from repoclimate.history import rollups

    with SQLiteStore(tmp_path / "s.sqlite") as store:
        connection = store._connection()
        for sql, index in zip(
            rollups.RECOMPUTE_DERIVED_HOURS, ("derived_sensor", "derived_room"), strict=True
        ):
            plan = " ".join(row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql))
            assert f"USING INDEX {index}" in plan and "time_ns>? AND time_ns<?" in plan, plan


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4").fetchall()
            for table in ("readings", "climate_1h", "stale_days")
        }


def test_the_fast_write_path_stores_what_the_encoder_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`write` validates and marks buckets in one pass (issue 14); the rows, rollups and marks
    are those of the line-encoder path it replaced, also for interleaved sensors, readings
    without a placement, and batches with and without battery and link quality (whose upsert
    binds NULLs that must not erase a stored battery)."""
    batches = [
        [
            Reading("s1", T0 + timedelta(minutes=20 * i), 20.0 + i, 50.0, site="a", room="r")
            for i in range(7)
        ]
        + [Reading("s2", T0 + timedelta(minutes=130), 18.0, None, site="a", room="r")]
        + [Reading("s1", T0 + timedelta(minutes=30), None, 40.0, site="a", room="r")]
        + [Reading("s3", T0 + timedelta(hours=5), 17.0, 60.0)],
        [Reading("s2", T0 + timedelta(minutes=70), 19.0, 55.0, 3.1, 90.0, site="b", room="q")],
        [Reading("s2", T0 + timedelta(minutes=70), 19.5, None, site="b", room="q")],
    ]
    fast, slow = SQLiteStore(tmp_path / "fast.db"), SQLiteStore(tmp_path / "slow.db")
    calls: list[int] = []

    def unchecked(readings: list[Reading]) -> None:
        calls.append(len(readings))
        raise sqlite_module._Unchecked

    monkeypatch.setattr(slow, "_checked_rows", unchecked)
    for batch in batches:
        fast.write(batch)
        slow.write(batch)
    fast.close()
    slow.close()
    assert calls == [len(batch) for batch in batches]
    stored = _dump(tmp_path / "fast.db")
    assert stored == _dump(tmp_path / "slow.db")
    # hours: s1 three, room a/r three, s2 two, s3 one, room b/q one
    assert len(stored["climate_1h"]) == 10
    (kept,) = [row for row in stored["readings"] if row[0] == "s2" and row[2] == "b"]
    assert kept[4:] == (19.5, 55.0, 3.1, 90.0)


def test_a_bad_reading_is_refused_with_the_encoders_error_and_index(tmp_path: Path) -> None:
    """The fast validation hands doubtful batches to the line encoder, so the error and index
    are the ones the InfluxDB store gives, and nothing of the batch is written."""
    store = SQLiteStore(tmp_path / "s.db")
    store.write([Reading("s1", T0, 20.0, 50.0, site="a", room="r")])  # placement now known
    bad = [
        Reading("s1", T0 + timedelta(minutes=1), 20.0, 50.0, site="a", room="r"),
        Reading("s1", T0 + timedelta(minutes=2), float("inf"), 50.0, site="a", room="r"),
    ]
    with pytest.raises(InvalidPoint) as refused:
        store.write(bad)
    with pytest.raises(InvalidPoint) as encoded:
        LineEncoder().encode_readings(bad)
    assert refused.value.index == encoded.value.index == 1
    assert str(refused.value) == str(encoded.value)
    with pytest.raises(InvalidPoint, match="reading 0: sensor 'bad\\\\n'"):
        store.write([Reading("bad\n", T0, 20.0, 50.0)])
    assert store.count() == 1
    store.close()
